package printer

import (
	"slices"
	"strconv"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
)

// Format returns the canonical text of f, laid out as the package
// documentation describes. src is the source f was parsed from: the printer
// takes the raw text of the import path and experiment name from it (literals
// carry their own Raw text). src may be nil, and the path and name are then
// quoted afresh.
//
// f should come from a parse without errors: Format prints the tree it is
// given, so the part of a file after a syntax error, which the parser did not
// read, is lost (its comments, which the parser collects from the whole
// file, are kept).
func Format(f *lang.File, src []byte) []byte {
	if f == nil {
		return nil
	}
	p := &printer{src: src}
	out := render(p.file(f), false)
	out = strings.TrimRight(out, "\n")
	if out == "" {
		return []byte{}
	}
	return []byte(out + "\n")
}

// FormatExpr returns the canonical text of e on one line: the layout of
// Format without line breaks, so `f(a, key: [1, 2]) | g()`. Literals keep
// their Raw text; parentheses appear exactly where e has a *lang.ParenExpr.
func FormatExpr(e lang.Expr) string {
	p := &printer{}
	d, _ := p.expr(e, nil)
	return render(d, true)
}

type printer struct {
	src []byte
}

// element is one entry of a block or of an argument or element list: its
// span and how to print it given the comments that lie inside the span.
// build returns the doc and the orphans, the comments it could not place
// (not inside a nested call or list); they go on their own lines before the
// element.
type element struct {
	span  lang.Span
	build func(inner []*lang.Comment) (doc, []*lang.Comment)
}

// slot is what distribute assigns to one element.
type slot struct {
	lead  []*lang.Comment // on their own lines before the element
	inner []*lang.Comment // inside the element's span
	trail *lang.Comment   // after the element, on the line where it ends
}

// distribute assigns the comments cs (sorted by offset) to the elements
// (sorted, not overlapping): a comment inside an element goes to it; a
// comment on the line where an element ends, after it and before the next
// one, trails it; any other comment leads the element after it, or, after
// the last element, dangles before the end of the list.
func distribute(elems []element, cs []*lang.Comment) (slots []slot, dangling []*lang.Comment) {
	slots = make([]slot, len(elems))
	k := 0
	for _, c := range cs {
		off := c.At.Start.Offset
		for k < len(elems) && elems[k].span.End.Offset <= off {
			k++
		}
		switch {
		case k < len(elems) && elems[k].span.Start.Offset <= off:
			slots[k].inner = append(slots[k].inner, c)
		case k > 0 && slots[k-1].trail == nil && c.At.Start.Line == elems[k-1].span.End.Line:
			slots[k-1].trail = c
		case k < len(elems):
			slots[k].lead = append(slots[k].lead, c)
		default:
			dangling = append(dangling, c)
		}
	}
	return slots, dangling
}

// split returns the comments of cs inside sp and the others.
func split(cs []*lang.Comment, sp lang.Span) (in, out []*lang.Comment) {
	for _, c := range cs {
		if sp.IsValid() && sp.Start.Offset <= c.At.Start.Offset && c.At.Start.Offset < sp.End.Offset {
			in = append(in, c)
		} else {
			out = append(out, c)
		}
	}
	return in, out
}

// sorted returns the non-nil comments of cs in source order.
func sorted(cs []*lang.Comment) []*lang.Comment {
	out := make([]*lang.Comment, 0, len(cs))
	for _, c := range cs {
		if c != nil {
			out = append(out, c)
		}
	}
	slices.SortStableFunc(out, func(a, b *lang.Comment) int { return a.At.Start.Offset - b.At.Start.Offset })
	return out
}

// entry is one line-level item of a block (a statement, an attribute or a
// comment on its own line), with whether an empty line goes before it.
type entry struct {
	d     doc
	blank bool
}

// block lays out elements one after the other, each starting on its own
// line, with their comments. Empty lines of the source between entries are
// kept, at most one each time; the first entry never gets one.
func (p *printer) block(elems []element, cs []*lang.Comment) []entry {
	slots, dangling := distribute(elems, cs)
	var es []entry
	prev := 0 // source line where the previous entry ends; 0 before the first
	add := func(d doc, start, end int) {
		es = append(es, entry{d: d, blank: prev > 0 && start-prev > 1})
		prev = end
	}
	for i, el := range elems {
		d, orphans := el.build(slots[i].inner)
		for _, c := range slots[i].lead {
			add(comment(c.Text), c.At.Start.Line, c.At.Start.Line)
		}
		// Orphans move before the element: an empty line may precede the
		// first of them (where one preceded the element), none follows.
		start := el.span.Start.Line
		for _, c := range sorted(orphans) {
			add(comment(c.Text), start, start)
		}
		if t := slots[i].trail; t != nil {
			d = concat{d, comment("  " + t.Text)}
		}
		add(d, start, el.span.End.Line)
	}
	for _, c := range dangling {
		add(comment(c.Text), c.At.Start.Line, c.At.Start.Line)
	}
	return es
}

// join puts entries on successive lines.
func join(es []entry) doc {
	var out concat
	for i, e := range es {
		switch {
		case e.blank:
			out = append(out, blankln)
		case i > 0:
			out = append(out, hardline)
		}
		out = append(out, e.d)
	}
	return out
}

func (p *printer) file(f *lang.File) doc {
	cs := sorted(f.Comments)
	var out concat
	header := f.Header.IsValid()
	if header {
		// Comments before the header (or inside it) stay before it.
		i := 0
		for i < len(cs) && cs[i].At.Start.Offset < f.Header.End.Offset {
			i++
		}
		pre := cs[:i]
		cs = cs[i:]
		prev := 0
		for _, c := range pre {
			ln := min(c.At.Start.Line, f.Header.Start.Line)
			if prev > 0 {
				out = append(out, sep(ln-prev))
			}
			out = append(out, comment(c.Text))
			prev = ln
		}
		if prev > 0 {
			out = append(out, sep(f.Header.Start.Line-prev))
		}
		out = append(out, text("mlpipe "+strconv.Itoa(f.Version)))
		// A comment on the header's line trails it, unless a statement
		// starts on that line before the comment.
		if len(cs) > 0 && cs[0].At.Start.Line == f.Header.End.Line &&
			(len(f.Stmts) == 0 || f.Stmts[0] == nil || cs[0].At.Start.Offset < f.Stmts[0].Span().Start.Offset) {
			out = append(out, comment("  "+cs[0].Text))
			cs = cs[1:]
		}
	}
	elems := make([]element, 0, len(f.Stmts))
	for _, s := range f.Stmts {
		if s == nil {
			continue
		}
		elems = append(elems, element{span: s.Span(), build: func(in []*lang.Comment) (doc, []*lang.Comment) {
			return p.stmt(s, in)
		}})
	}
	es := p.block(elems, cs)
	if header && len(es) > 0 {
		out = append(out, blankln)
	}
	return append(out, join(es))
}

// sep is the break between two entries gap source lines apart: a line
// break, or an empty line too if the source had one.
func sep(gap int) doc {
	if gap > 1 {
		return blankln
	}
	return hardline
}

func (p *printer) stmt(s lang.Stmt, cs []*lang.Comment) (doc, []*lang.Comment) {
	switch s := s.(type) {
	case *lang.ImportStmt:
		return text("import " + p.quoted(s.PathSpan, s.Path)), cs
	case *lang.ParamStmt:
		return p.assign("param "+name(s.Name)+" = ", s.Value, cs)
	case *lang.BindStmt:
		return p.assign(name(s.Name)+" = ", s.Value, cs)
	case *lang.ExperimentStmt:
		return p.attrBlock("experiment "+p.quoted(s.NameSpan, s.Name), s.NameSpan, s.Attrs, cs)
	case *lang.SweepStmt:
		head := "sweep"
		if s.NameSpan.IsValid() {
			head += " " + p.quoted(s.NameSpan, s.Name)
		}
		return p.attrBlock(head, s.NameSpan, s.Attrs, cs)
	}
	return text(""), cs
}

// assign prints prefix followed by the expression v.
func (p *printer) assign(prefix string, v lang.Expr, cs []*lang.Comment) (doc, []*lang.Comment) {
	in, orphans := split(cs, spanOf(v))
	d, more := p.expr(v, in)
	return concat{text(prefix), d}, append(orphans, more...)
}

// attrBlock prints an experiment or sweep block: head, then the attributes
// one per line inside braces. nameSpan is the span of the head's name (may
// be invalid).
func (p *printer) attrBlock(head string, nameSpan lang.Span, attrs []*lang.Attr, cs []*lang.Comment) (doc, []*lang.Comment) {
	// Comments before the end of the name cannot stay there; the rest are
	// inside the braces.
	var orphans []*lang.Comment
	for len(cs) > 0 && nameSpan.IsValid() && cs[0].At.Start.Offset < nameSpan.End.Offset {
		orphans = append(orphans, cs[0])
		cs = cs[1:]
	}
	var elems []element
	for _, a := range attrs {
		if a == nil {
			continue
		}
		elems = append(elems, element{span: a.At, build: func(in []*lang.Comment) (doc, []*lang.Comment) {
			return p.assign(name(a.Name)+" = ", a.Value, in)
		}})
	}
	open := text(head + " {")
	es := p.block(elems, cs)
	if len(es) == 0 {
		return concat{open, hardline, text("}")}, orphans
	}
	return concat{open, nest{2, concat{hardline, join(es)}}, hardline, text("}")}, orphans
}

// expr returns the doc of e and the comments of cs (those inside e) that no
// call or list inside e holds.
func (p *printer) expr(e lang.Expr, cs []*lang.Comment) (doc, []*lang.Comment) {
	switch e := e.(type) {
	case *lang.Ident:
		return text(name(e)), cs
	case *lang.IntLit:
		if e.Raw != "" {
			return text(e.Raw), cs
		}
		return text(strconv.FormatInt(e.Value, 10)), cs
	case *lang.FloatLit:
		if e.Raw != "" {
			return text(e.Raw), cs
		}
		return text(lang.FormatFloat(e.Value)), cs
	case *lang.StringLit:
		if e.Raw != "" {
			return text(e.Raw), cs
		}
		return text(quote(e.Value)), cs
	case *lang.BoolLit:
		return text(strconv.FormatBool(e.Value)), cs
	case *lang.ListExpr:
		elems := make([]element, 0, len(e.Elems))
		for _, x := range e.Elems {
			elems = append(elems, element{span: spanOf(x), build: func(in []*lang.Comment) (doc, []*lang.Comment) {
				return p.expr(x, in)
			}})
		}
		return p.seq("[", "]", elems, cs), nil
	case *lang.CallExpr:
		elems := make([]element, 0, len(e.Args))
		for _, a := range e.Args {
			if a == nil {
				continue
			}
			prefix := ""
			if a.Name != nil {
				prefix = name(a.Name) + ": "
			}
			elems = append(elems, element{span: a.At, build: func(in []*lang.Comment) (doc, []*lang.Comment) {
				return p.assign(prefix, a.Value, in)
			}})
		}
		return p.seq(name(e.Func)+"(", ")", elems, cs), nil
	case *lang.SelectorExpr:
		in, orphans := split(cs, spanOf(e.X))
		x, more := p.expr(e.X, in)
		dot := "."
		if _, ok := e.X.(*lang.IntLit); ok {
			dot = " ." // "1.x" would read as the float "1." then x
		}
		return concat{x, text(dot + name(e.Sel))}, append(orphans, more...)
	case *lang.BinaryExpr:
		inX, rest := split(cs, spanOf(e.X))
		inY, orphans := split(rest, spanOf(e.Y))
		x, mx := p.expr(e.X, inX)
		y, my := p.expr(e.Y, inY)
		return concat{x, text(" " + e.Op + " "), y}, append(append(orphans, mx...), my...)
	case *lang.UnaryExpr:
		in, orphans := split(cs, spanOf(e.X))
		x, more := p.expr(e.X, in)
		return concat{text(e.Op), x}, append(orphans, more...)
	case *lang.ParenExpr:
		in, orphans := split(cs, spanOf(e.X))
		x, more := p.expr(e.X, in)
		return concat{text("("), x, text(")")}, append(orphans, more...)
	}
	return text(""), cs
}

// seq prints a call's arguments or a list's elements between open and
// close: on one line if they fit and hold no comment, else one per line,
// indented, each followed by a comma, with close on a line of its own.
// Every comment inside lands in the list: before an element, trailing one,
// or before close.
func (p *printer) seq(open, close string, elems []element, cs []*lang.Comment) doc {
	slots, dangling := distribute(elems, cs)
	if len(elems) == 0 && len(dangling) == 0 {
		return text(open + close)
	}
	var body concat
	for i, el := range elems {
		d, orphans := el.build(slots[i].inner)
		if i > 0 {
			body = append(body, spaceln)
		}
		for _, c := range sorted(append(slots[i].lead, orphans...)) {
			body = append(body, comment(c.Text), hardline)
		}
		body = append(body, d)
		if i < len(elems)-1 {
			body = append(body, text(","))
		} else {
			body = append(body, ifBreak{brk: text(",")})
		}
		if t := slots[i].trail; t != nil {
			body = append(body, comment("  "+t.Text))
		}
	}
	for i, c := range dangling {
		if len(elems) > 0 || i > 0 {
			body = append(body, hardline)
		}
		body = append(body, comment(c.Text))
	}
	return newGroup(concat{text(open), nest{2, concat{softline, body}}, softline, text(close)})
}

// quoted returns the source text of the string literal at sp, or a fresh
// quotation of value if the source is not at hand.
func (p *printer) quoted(sp lang.Span, value string) string {
	s, e := sp.Start.Offset, sp.End.Offset
	if sp.IsValid() && 0 <= s && s+2 <= e && e <= len(p.src) && p.src[s] == '"' && p.src[e-1] == '"' {
		return string(p.src[s:e])
	}
	return quote(value)
}

// quote returns s as a string literal, using only the escapes the lexer
// knows: \\, \", \n and \t.
func quote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func name(id *lang.Ident) string {
	if id == nil {
		return ""
	}
	return id.Name
}

// spanOf returns e's span, or no span for a nil e.
func spanOf(e lang.Expr) lang.Span {
	if e == nil {
		return lang.Span{}
	}
	return e.Span()
}
