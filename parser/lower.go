package parser

import (
	"bytes"
	"strconv"

	"github.com/alecthomas/participle/v2/lexer"

	"github.com/mlpipe/mlpipe/lang"
)

// lowerer turns the participle tree into lang nodes and collects the
// diagnostics that only lowering can find (an integer too large, a bad
// escape).
type lowerer struct {
	file  string
	src   []byte
	diags lang.Diagnostics
	skip  map[lexer.TokenType]bool // token types that never end a node
}

func newLowerer(file string, src []byte) *lowerer {
	sym := mlpLexer.Symbols()
	return &lowerer{file: file, src: src, skip: map[lexer.TokenType]bool{
		sym["Whitespace"]: true, sym["Comment"]: true,
	}}
}

func (l *lowerer) pos(p lexer.Position) lang.Pos {
	return posAt(l.src, p)
}

// posAt converts a participle position into a lang.Pos. Participle counts
// columns in runes; lang counts them in bytes, so the column is recomputed
// from the offset.
func posAt(src []byte, p lexer.Position) lang.Pos {
	off := min(max(p.Offset, 0), len(src))
	return lang.Pos{Offset: p.Offset, Line: p.Line, Col: off - bytes.LastIndexByte(src[:off], '\n')}
}

// endOf returns the position just after the last significant token.
func (l *lowerer) endOf(tokens []lexer.Token) lang.Pos {
	for i := len(tokens) - 1; i >= 0; i-- {
		t := tokens[i]
		if l.skip[t.Type] || t.EOF() {
			continue
		}
		return advance(l.pos(t.Pos), t.Value)
	}
	return lang.Pos{}
}

// advance moves p past text.
func advance(p lang.Pos, text string) lang.Pos {
	for i := 0; i < len(text); i++ {
		p.Offset++
		if text[i] == '\n' {
			p.Line++
			p.Col = 1
		} else {
			p.Col++
		}
	}
	return p
}

func (l *lowerer) span(start lexer.Position, tokens []lexer.Token) lang.Span {
	s := lang.Span{File: l.file, Start: l.pos(start), End: l.endOf(tokens)}
	if !s.End.IsValid() {
		s.End = s.Start
	}
	return s
}

func (l *lowerer) textSpan(start lexer.Position, text string) lang.Span {
	p := l.pos(start)
	return lang.Span{File: l.file, Start: p, End: advance(p, text)}
}

func (l *lowerer) file_(c *source, name string, src []byte) *lang.File {
	f := &lang.File{Name: name}
	f.Whole = lang.Span{File: l.file, Start: lang.Pos{Line: 1, Col: 1}, End: advance(lang.Pos{Line: 1, Col: 1}, string(src))}
	if c == nil {
		return f
	}
	if h := c.Header; h != nil {
		f.Header = l.span(h.Pos, h.Tokens)
		v, err := strconv.Atoi(h.Version)
		if err != nil {
			l.diags.Errorf(f.Header, "language version %s is not a number", h.Version)
		}
		f.Version = v
	}
	for _, s := range c.Stmts {
		if st := l.stmt(s); st != nil {
			f.Stmts = append(f.Stmts, st)
		}
	}
	return f
}

func (l *lowerer) stmt(s *statement) lang.Stmt {
	switch {
	case s == nil:
		return nil
	case s.Import != nil:
		c := s.Import
		path, pathSpan := l.unquote(c.Path, c.Tokens, "import path")
		return &lang.ImportStmt{Path: path, PathSpan: pathSpan, At: l.span(c.Pos, c.Tokens)}
	case s.Param != nil:
		c := s.Param
		return &lang.ParamStmt{Name: l.declName(c.Name), Value: l.expr(c.Value), At: l.span(c.Pos, c.Tokens)}
	case s.Experiment != nil:
		c := s.Experiment
		name, nameSpan := l.unquote(c.Name, c.Tokens, "experiment name")
		e := &lang.ExperimentStmt{Name: name, NameSpan: nameSpan, At: l.span(c.Pos, c.Tokens)}
		for _, a := range c.Attrs {
			e.Attrs = append(e.Attrs, &lang.Attr{Name: l.ident(a.Name), Value: l.expr(a.Value), At: l.span(a.Pos, a.Tokens)})
		}
		return e
	case s.Sweep != nil:
		c := s.Sweep
		sw := &lang.SweepStmt{At: l.span(c.Pos, c.Tokens)}
		if c.Name != nil {
			sw.Name, sw.NameSpan = l.unquote(*c.Name, c.Tokens, "sweep name")
		}
		for _, a := range c.Attrs {
			sw.Attrs = append(sw.Attrs, &lang.Attr{Name: l.ident(a.Name), Value: l.expr(a.Value), At: l.span(a.Pos, a.Tokens)})
		}
		return sw
	case s.Bind != nil:
		c := s.Bind
		return &lang.BindStmt{Name: l.declName(c.Name), Value: l.expr(c.Value), At: l.span(c.Pos, c.Tokens)}
	}
	return nil
}

// unquote finds the string token raw among tokens and returns its value and
// span.
func (l *lowerer) unquote(raw string, tokens []lexer.Token, what string) (string, lang.Span) {
	var sp lang.Span
	for _, t := range tokens {
		if t.Value == raw {
			sp = l.textSpan(t.Pos, raw)
			break
		}
	}
	v, err := strconv.Unquote(raw)
	if err != nil {
		l.diags.Errorf(sp, "malformed %s %s", what, raw)
		return raw, sp
	}
	return v, sp
}

// keywords are the words of the grammar. The lexer reads them as
// identifiers, so the grammar alone would accept them as names.
var keywords = map[string]bool{
	"mlpipe": true, "experiment": true, "sweep": true, "param": true, "import": true, "true": true, "false": true,
}

// declName lowers the name a param or binding declares, which must not be a
// keyword: `true = 1` or `param = 2` would define a name no expression can
// refer to.
func (l *lowerer) declName(c *name) *lang.Ident {
	id := l.ident(c)
	if keywords[id.Name] {
		l.diags.Errorf(id.At, "syntax error: %s is a keyword and cannot be used as a name", id.Name)
	}
	return id
}

func (l *lowerer) ident(c *name) *lang.Ident {
	if c == nil {
		return &lang.Ident{}
	}
	return &lang.Ident{Name: c.Name, At: l.textSpan(c.Pos, c.Name)}
}

func (l *lowerer) expr(c *expression) lang.Expr {
	if c == nil {
		return &lang.Ident{}
	}
	x := l.sum(c.Head)
	for _, op := range c.Tail {
		y := l.sum(op.Y)
		x = &lang.BinaryExpr{Op: op.Op, OpSpan: l.textSpan(op.Pos, op.Op), X: x, Y: y, At: lang.Join(x.Span(), y.Span())}
	}
	return x
}

// The lowering functions accept nil: after a syntax error participle
// returns the tree as far as it got, with nil where a node is missing.

func (l *lowerer) sum(c *sum) lang.Expr {
	if c == nil {
		return &lang.Ident{}
	}
	x := l.term(c.Head)
	for _, op := range c.Tail {
		y := l.term(op.Y)
		x = &lang.BinaryExpr{Op: op.Op, OpSpan: l.textSpan(op.Pos, op.Op), X: x, Y: y, At: lang.Join(x.Span(), y.Span())}
	}
	return x
}

func (l *lowerer) term(c *product) lang.Expr {
	if c == nil {
		return &lang.Ident{}
	}
	x := l.unary(c.Head)
	for _, op := range c.Tail {
		y := l.unary(op.Y)
		x = &lang.BinaryExpr{Op: op.Op, OpSpan: l.textSpan(op.Pos, op.Op), X: x, Y: y, At: lang.Join(x.Span(), y.Span())}
	}
	return x
}

func (l *lowerer) unary(c *unary) lang.Expr {
	if c == nil {
		return &lang.Ident{}
	}
	x := l.postfix(c.X)
	if c.Neg {
		return &lang.UnaryExpr{Op: "-", X: x, At: l.span(c.Pos, c.Tokens)}
	}
	return x
}

func (l *lowerer) postfix(c *postfix) lang.Expr {
	if c == nil {
		return &lang.Ident{}
	}
	x := l.primary(c.X)
	for _, sel := range c.Sels {
		id := l.ident(sel)
		x = &lang.SelectorExpr{X: x, Sel: id, At: lang.Join(x.Span(), id.At)}
	}
	return x
}

func (l *lowerer) primary(c *primary) lang.Expr {
	if c == nil {
		return &lang.Ident{}
	}
	sp := l.span(c.Pos, c.Tokens)
	switch {
	case c.Call != nil:
		call := &lang.CallExpr{Func: l.ident(c.Call.Func), At: l.span(c.Call.Pos, c.Call.Tokens)}
		for _, a := range c.Call.Args {
			arg := &lang.Arg{Value: l.expr(a.Value), At: l.span(a.Pos, a.Tokens)}
			if a.Name != nil {
				arg.Name = l.ident(a.Name)
			}
			call.Args = append(call.Args, arg)
		}
		return call
	case c.Float != nil:
		v, err := strconv.ParseFloat(*c.Float, 64)
		if err != nil {
			l.diags.Errorf(sp, "number %s is out of range", *c.Float)
		}
		return &lang.FloatLit{Value: v, Raw: *c.Float, At: sp}
	case c.Int != nil:
		v, err := strconv.ParseInt(*c.Int, 10, 64)
		if err != nil {
			l.diags.Errorf(sp, "integer %s is out of range", *c.Int)
		}
		return &lang.IntLit{Value: v, Raw: *c.Int, At: sp}
	case c.String != nil:
		v, err := strconv.Unquote(*c.String)
		if err != nil {
			l.diags.Errorf(sp, "malformed string %s", *c.String)
		}
		return &lang.StringLit{Value: v, Raw: *c.String, At: sp}
	case c.Bool != nil:
		return &lang.BoolLit{Value: *c.Bool == "true", At: sp}
	case c.List != nil:
		list := &lang.ListExpr{At: l.span(c.List.Pos, c.List.Tokens)}
		for _, e := range c.List.Elems {
			list.Elems = append(list.Elems, l.expr(e))
		}
		return list
	case c.Paren != nil:
		return &lang.ParenExpr{X: l.expr(c.Paren), At: sp}
	case c.Ident != nil:
		return l.ident(c.Ident)
	}
	return &lang.Ident{At: sp}
}
