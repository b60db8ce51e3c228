package lang

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func span(file string, line, col, endCol int) Span {
	return Span{File: file, Start: Pos{Line: line, Col: col, Offset: col - 1}, End: Pos{Line: line, Col: endCol, Offset: endCol - 1}}
}

func TestFprint(t *testing.T) {
	src := Sources{
		"a.mlp": []byte("mlpipe 1\nopt = adam(lerning_rate: 0.01)\n\n\n\n\n\n\n\nx = \"é\" + y\n"),
	}
	tests := []struct {
		name string
		d    *Diagnostic
		want string
	}{
		{
			name: "underline with suggestion and note",
			d: Errorf(span("a.mlp", 2, 12, 24), "unknown parameter %q for adam", "lerning_rate").
				WithSuggest("lr").WithNote("adam takes lr, beta1"),
			want: `a.mlp:2:12: unknown parameter "lerning_rate" for adam
  |
2 | opt = adam(lerning_rate: 0.01)
  |            ^^^^^^^^^^^^
  = did you mean "lr"?
  = adam takes lr, beta1
`,
		},
		{
			name: "two-digit gutter and a non-ASCII line",
			d:    Errorf(span("a.mlp", 10, 12, 13), "undefined name %q", "y"),
			want: `a.mlp:10:12: undefined name "y"
   |
10 | x = "é" + y
   |           ^
`,
		},
		{
			name: "span over a non-ASCII string counts characters",
			d:    Errorf(span("a.mlp", 10, 5, 9), "bad string"),
			want: `a.mlp:10:5: bad string
   |
10 | x = "é" + y
   |     ^^^
`,
		},
		{
			name: "empty span gets one caret",
			d:    Errorf(span("a.mlp", 2, 30, 30), "missing )"),
			want: `a.mlp:2:30: missing )
  |
2 | opt = adam(lerning_rate: 0.01)
  |                              ^
`,
		},
		{
			name: "span over several lines underlines to the end of the first",
			d: &Diagnostic{Span: Span{File: "a.mlp", Start: Pos{Line: 2, Col: 7}, End: Pos{Line: 3, Col: 1}},
				Message: "multi"},
			want: `a.mlp:2:7: multi
  |
2 | opt = adam(lerning_rate: 0.01)
  |       ^^^^^^^^^^^^^^^^^^^^^^^^
`,
		},
		{
			name: "no position",
			d:    Errorf(Span{File: "--set lr=x"}, "param lr is a float"),
			want: "--set lr=x: param lr is a float\n",
		},
		{
			name: "unknown source prints the line only",
			d:    Errorf(span("b.mlp", 3, 1, 2), "oops"),
			want: "b.mlp:3:1: oops\n",
		},
		{
			name: "warning",
			d:    &Diagnostic{Severity: Warning, Span: span("b.mlp", 1, 1, 2), Message: "careful"},
			want: "b.mlp:1:1: warning: careful\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			Fprint(&b, Diagnostics{tt.d}, src)
			if got := b.String(); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDiagnosticsErr(t *testing.T) {
	var ds Diagnostics
	if ds.Err() != nil {
		t.Fatal("empty list gives an error")
	}
	ds.Add(&Diagnostic{Severity: Warning, Span: span("a", 1, 1, 2), Message: "w"})
	if ds.Err() != nil {
		t.Fatal("warnings alone give an error")
	}
	ds.Errorf(span("b", 2, 1, 2), "second")
	ds.Errorf(span("a", 3, 1, 2), "first")
	ds.Errorf(span("a", 3, 1, 2), "first") // duplicate
	err := ds.Err()
	want := "a:1:1: warning: w\na:3:1: first\nb:2:1: second"
	if err == nil || err.Error() != want {
		t.Fatalf("Err() = %v, want\n%s", err, want)
	}
	wrapped := fmt.Errorf("context: %w", err)
	if got := DiagnosticsOf(wrapped); len(got) != 3 || got[1].Message != "first" {
		t.Errorf("DiagnosticsOf(wrapped) = %v", got)
	}
	single := fmt.Errorf("x: %w", Errorf(span("c", 1, 1, 1), "one"))
	if got := DiagnosticsOf(single); len(got) != 1 || got[0].Message != "one" {
		t.Errorf("DiagnosticsOf(single) = %v", got)
	}
	if got := DiagnosticsOf(errors.New("plain")); got != nil {
		t.Errorf("DiagnosticsOf(plain) = %v, want nil", got)
	}
	d := Errorf(span("f.mlp", 4, 2, 3), "unknown %q", "x").WithSuggest("y")
	if got, want := d.Error(), `f.mlp:4:2: unknown "x" (did you mean "y"?)`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestSuggest(t *testing.T) {
	cands := []string{"lr", "learning_rate", "momentum", "train", "test", "validation", "accuracy"}
	tests := []struct{ in, want string }{
		{"lerning_rate", "learning_rate"},
		{"momentun", "momentum"},
		{"tset", "test"},   // transposition
		{"trian", "train"}, // transposition
		{"acuracy", "accuracy"},
		{"lr", ""},  // exact match is not a suggestion
		{"zzz", ""}, // nothing close
		{"validatoin", "validation"},
		{"x", ""},
	}
	for _, tt := range tests {
		if got := Suggest(tt.in, cands); got != tt.want {
			t.Errorf("Suggest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestRange(t *testing.T) {
	tests := []struct {
		spec     string
		in, out  []float64
		describe string
	}{
		{"(0,inf)", []float64{1e-9, 5}, []float64{0, -1}, "> 0"},
		{"[0,1]", []float64{0, 0.5, 1}, []float64{-0.01, 1.01}, "in [0, 1]"},
		{"[0,1)", []float64{0}, []float64{1}, "in [0, 1)"},
		{"[1,inf)", []float64{1, 100}, []float64{0.5}, ">= 1"},
		{"(-inf,0]", []float64{0, -3}, []float64{0.1}, "<= 0"},
	}
	for _, tt := range tests {
		r, err := ParseRange(tt.spec)
		if err != nil {
			t.Fatalf("ParseRange(%q): %v", tt.spec, err)
		}
		for _, x := range tt.in {
			if !r.Contains(x) {
				t.Errorf("%s should contain %g", tt.spec, x)
			}
		}
		for _, x := range tt.out {
			if r.Contains(x) {
				t.Errorf("%s should not contain %g", tt.spec, x)
			}
		}
		if got := r.Describe(); got != tt.describe {
			t.Errorf("%s.Describe() = %q, want %q", tt.spec, got, tt.describe)
		}
	}
	for _, bad := range []string{"", "0,1", "[1,0]", "[a,1]", "<0,1>", "[0;1]"} {
		if _, err := ParseRange(bad); err == nil {
			t.Errorf("ParseRange(%q) succeeded", bad)
		}
	}
}

func TestAssignableTo(t *testing.T) {
	model := ObjectOf(KindModel)
	tests := []struct {
		from, to Type
		want     bool
	}{
		{Int, Float, true},
		{Float, Int, false},
		{String, Float, false},
		{ListOf(Int), ListOf(Float), true},
		{ListOf(Invalid), ListOf(String), true},
		{ListOf(Float), ListOf(Int), false},
		{&Object{Kind: KindModel, In: 3}, model, true},
		{ObjectOf(KindLoss), model, false},
		{Invalid, model, true},
		{model, Invalid, true},
		{Int, model, false},
	}
	for _, tt := range tests {
		if got := AssignableTo(tt.from, tt.to); got != tt.want {
			t.Errorf("AssignableTo(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    any
		want string
	}{
		{int64(3), "3"},
		{3.0, "3.0"},
		{1e-3, "0.001"},
		{1e-8, "1e-08"},
		{"a\"b", `"a\"b"`},
		{true, "true"},
		{[]any{int64(1), 2.5}, "[1, 2.5]"},
	}
	for _, tt := range tests {
		if got := FormatValue(tt.v); got != tt.want {
			t.Errorf("FormatValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestObjectString(t *testing.T) {
	if got := (&Object{Kind: KindModel, In: 64, Out: 10}).String(); got != "model (in 64, out 10)" {
		t.Errorf("model: %q", got)
	}
	if got := (&Object{Kind: KindDataset, In: 784, Out: 10}).String(); got != "dataset (784 features, 10 classes)" {
		t.Errorf("dataset: %q", got)
	}
	if got := Describe(ObjectOf(KindOptimizer)); got != "an optimizer" {
		t.Errorf("Describe: %q", got)
	}
}
