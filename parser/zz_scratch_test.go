package parser

import "testing"

func TestScratchPanic(t *testing.T) {
	for _, s := range []string{"A=A(0,A:- ", "mlpipe 1\nx = -", "x = a.", "x = [1, -", "x = (", "x = f(a: b | ", "experiment \"x\" { a = - "} {
		Parse("t.mlp", []byte(s))
	}
}
