package lang

import "fmt"

// Pos is a position in a source file. Line and Col are 1-based; Col counts
// bytes. Offset is the 0-based byte offset. The zero Pos is not valid.
type Pos struct {
	Offset int
	Line   int
	Col    int
}

// IsValid reports whether p denotes a real position.
func (p Pos) IsValid() bool { return p.Line > 0 }

// Before reports whether p comes strictly before q.
func (p Pos) Before(q Pos) bool { return p.Offset < q.Offset }

// Span is a range of source text in one file. End is exclusive. A Span with
// an empty File and invalid positions stands for "no source position" (for
// example a --set override given on the command line).
type Span struct {
	File  string
	Start Pos
	End   Pos
}

// IsValid reports whether s refers to a source position.
func (s Span) IsValid() bool { return s.Start.IsValid() }

// String formats s as file:line:col, the form editors jump to.
func (s Span) String() string {
	if !s.IsValid() {
		if s.File != "" {
			return s.File
		}
		return "-"
	}
	return fmt.Sprintf("%s:%d:%d", s.File, s.Start.Line, s.Start.Col)
}

// Contains reports whether the position p lies within s (End exclusive).
func (s Span) Contains(p Pos) bool {
	return s.Start.Offset <= p.Offset && p.Offset < s.End.Offset
}

// Join returns the smallest span covering a and b; both must be in one file.
func Join(a, b Span) Span {
	if !a.IsValid() {
		return b
	}
	if !b.IsValid() {
		return a
	}
	out := a
	if b.Start.Before(out.Start) {
		out.Start = b.Start
	}
	if out.End.Before(b.End) {
		out.End = b.End
	}
	return out
}
