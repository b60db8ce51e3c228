package parser_test

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
)

// dumpFile renders f as a compact, position-free S-expression: the header,
// then one statement a line, then the comments.
//
//	(mlpipe 1)
//	(bind fit (call train (ident net) (sel (ident data) train) (arg loss (call cross_entropy))))
//	(comments "# a")
func dumpFile(f *lang.File) string {
	var b strings.Builder
	if f.Header.IsValid() {
		fmt.Fprintf(&b, "(mlpipe %d)\n", f.Version)
	}
	for _, s := range f.Stmts {
		b.WriteString(dumpStmt(s))
		b.WriteByte('\n')
	}
	if len(f.Comments) > 0 {
		b.WriteString("(comments")
		for _, c := range f.Comments {
			b.WriteString(" " + strconv.Quote(c.Text))
		}
		b.WriteString(")\n")
	}
	return b.String()
}

func dumpStmt(s lang.Stmt) string {
	switch s := s.(type) {
	case *lang.ImportStmt:
		return fmt.Sprintf("(import %q)", s.Path)
	case *lang.ParamStmt:
		return fmt.Sprintf("(param %s %s)", s.Name.Name, dumpExpr(s.Value))
	case *lang.ExperimentStmt:
		parts := []string{"experiment", strconv.Quote(s.Name)}
		for _, a := range s.Attrs {
			parts = append(parts, fmt.Sprintf("(attr %s %s)", a.Name.Name, dumpExpr(a.Value)))
		}
		return "(" + strings.Join(parts, " ") + ")"
	case *lang.SweepStmt:
		parts := []string{"sweep", strconv.Quote(s.Name)}
		for _, a := range s.Attrs {
			parts = append(parts, fmt.Sprintf("(attr %s %s)", a.Name.Name, dumpExpr(a.Value)))
		}
		return "(" + strings.Join(parts, " ") + ")"
	case *lang.BindStmt:
		return fmt.Sprintf("(bind %s %s)", s.Name.Name, dumpExpr(s.Value))
	}
	return fmt.Sprintf("(?stmt %T)", s)
}

// dumpExpr renders an expression. Literals show their value; floats also
// their source text, as in (float 0.5 .5).
func dumpExpr(e lang.Expr) string {
	switch e := e.(type) {
	case nil:
		return "(nil)"
	case *lang.Ident:
		return "(ident " + e.Name + ")"
	case *lang.IntLit:
		if s := strconv.FormatInt(e.Value, 10); s != e.Raw {
			return fmt.Sprintf("(int %s %s)", s, e.Raw)
		}
		return fmt.Sprintf("(int %d)", e.Value)
	case *lang.FloatLit:
		return fmt.Sprintf("(float %s %s)", strconv.FormatFloat(e.Value, 'g', -1, 64), e.Raw)
	case *lang.StringLit:
		return "(string " + strconv.Quote(e.Value) + ")"
	case *lang.BoolLit:
		return fmt.Sprintf("(bool %t)", e.Value)
	case *lang.ListExpr:
		parts := []string{"list"}
		for _, x := range e.Elems {
			parts = append(parts, dumpExpr(x))
		}
		return "(" + strings.Join(parts, " ") + ")"
	case *lang.CallExpr:
		parts := []string{"call", e.Func.Name}
		for _, a := range e.Args {
			if a.Name != nil {
				parts = append(parts, fmt.Sprintf("(arg %s %s)", a.Name.Name, dumpExpr(a.Value)))
			} else {
				parts = append(parts, dumpExpr(a.Value))
			}
		}
		return "(" + strings.Join(parts, " ") + ")"
	case *lang.SelectorExpr:
		return fmt.Sprintf("(sel %s %s)", dumpExpr(e.X), e.Sel.Name)
	case *lang.BinaryExpr:
		return fmt.Sprintf("(%s %s %s)", e.Op, dumpExpr(e.X), dumpExpr(e.Y))
	case *lang.UnaryExpr:
		return fmt.Sprintf("(neg %s)", dumpExpr(e.X))
	case *lang.ParenExpr:
		return fmt.Sprintf("(paren %s)", dumpExpr(e.X))
	}
	return fmt.Sprintf("(?expr %T)", e)
}
