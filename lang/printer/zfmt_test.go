package printer_test

import (
	"os"
	"testing"

	"github.com/mlpipe/mlpipe/lang/printer"
	"github.com/mlpipe/mlpipe/parser"
)

func TestZFmt(t *testing.T) {
	src, _ := os.ReadFile(os.Getenv("IN"))
	f, err := parser.Parse("x", src)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(os.Getenv("OUT"), printer.Format(f, src), 0o666)
}
