package printer

import (
	"strings"
	"unicode/utf8"
)

// This file holds a small Wadler-style layout engine: the printer describes
// the text as a document of texts, line breaks, indentation and groups, and
// render chooses, group by group from the outside in, whether a group fits
// flat on the current line or must be broken.

// maxWidth is the column limit: a line longer than this is broken where a
// group allows it.
const maxWidth = 100

// A doc is one of text, comment, line, concat, nest, group or ifBreak.
type doc any

// text is literal text without newlines.
type text string

// comment is the text of a comment. It prints like text but takes no width
// when render decides whether a group fits, and a group holding one always
// breaks.
type comment string

// line is a line break. In a flat group it prints as flat instead; a hard
// line always breaks and breaks every group around it.
type line struct {
	flat string
	hard bool
}

var (
	softline = line{}                     // "" when flat
	spaceln  = line{flat: " "}            // " " when flat
	hardline = line{hard: true}           // always a newline
	blankln  = concat{hardline, hardline} // an empty line
)

// concat is a sequence of docs.
type concat []doc

// nest indents the lines that breaks inside d start by n more columns.
type nest struct {
	n int
	d doc
}

// group is laid out flat if it fits on the line, else broken. hard groups
// (holding a hard line or a comment) are always broken.
type group struct {
	d    doc
	hard bool
}

// ifBreak prints brk inside a broken group and flat inside a flat one.
type ifBreak struct {
	brk, flat doc
}

// newGroup returns a group around d, hard if d must break.
func newGroup(d doc) group { return group{d: d, hard: mustBreak(d)} }

// mustBreak reports whether d holds a hard line or a comment outside any
// nested group that is itself hard (a hard nested group makes d hard too).
func mustBreak(d doc) bool {
	switch d := d.(type) {
	case comment:
		return true
	case line:
		return d.hard
	case concat:
		for _, x := range d {
			if mustBreak(x) {
				return true
			}
		}
	case nest:
		return mustBreak(d.d)
	case group:
		return d.hard
	case ifBreak:
		return mustBreak(d.brk) || mustBreak(d.flat)
	}
	return false
}

// cmd is a doc waiting to be printed at an indentation, flat or broken.
type cmd struct {
	indent int
	flat   bool
	d      doc
}

// render lays d out within maxWidth columns (where groups allow) and
// returns the text. Indentation is written only before text, so empty lines
// carry no spaces.
func render(d doc, flat bool) string {
	var b strings.Builder
	col := 0
	pending := -1 // indentation owed before the next text, -1 if none
	write := func(s string) {
		if s == "" {
			return
		}
		if pending >= 0 {
			b.WriteString(strings.Repeat(" ", pending))
			pending = -1
		}
		b.WriteString(s)
		col += utf8.RuneCountInString(s)
	}
	stack := []cmd{{d: d, flat: flat}}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		switch d := c.d.(type) {
		case nil:
		case text:
			write(string(d))
		case comment:
			write(string(d))
		case line:
			if c.flat && !d.hard {
				write(d.flat)
				break
			}
			b.WriteByte('\n')
			pending, col = c.indent, c.indent
		case concat:
			for i := len(d) - 1; i >= 0; i-- {
				stack = append(stack, cmd{c.indent, c.flat, d[i]})
			}
		case nest:
			stack = append(stack, cmd{c.indent + d.n, c.flat, d.d})
		case group:
			switch {
			case c.flat:
				stack = append(stack, cmd{c.indent, true, d.d})
			case d.hard:
				stack = append(stack, cmd{c.indent, false, d.d})
			default:
				next := cmd{c.indent, true, d.d}
				if !fits(next, stack, maxWidth-col) {
					next.flat = false
				}
				stack = append(stack, next)
			}
		case ifBreak:
			if c.flat {
				stack = append(stack, cmd{c.indent, true, d.flat})
			} else {
				stack = append(stack, cmd{c.indent, false, d.brk})
			}
		}
	}
	return b.String()
}

// fits reports whether next, printed flat, and what follows it up to the
// next line break (taken from rest, the pending commands) fit in width
// columns.
func fits(next cmd, rest []cmd, width int) bool {
	cmds := []cmd{next}
	ri := len(rest)
	for width >= 0 {
		if len(cmds) == 0 {
			if ri == 0 {
				return true
			}
			ri--
			cmds = append(cmds, rest[ri])
			continue
		}
		c := cmds[len(cmds)-1]
		cmds = cmds[:len(cmds)-1]
		switch d := c.d.(type) {
		case text:
			width -= utf8.RuneCountInString(string(d))
		case line:
			if !c.flat || d.hard {
				return true
			}
			width -= len(d.flat)
		case concat:
			for i := len(d) - 1; i >= 0; i-- {
				cmds = append(cmds, cmd{c.indent, c.flat, d[i]})
			}
		case nest:
			cmds = append(cmds, cmd{c.indent + d.n, c.flat, d.d})
		case group:
			cmds = append(cmds, cmd{c.indent, c.flat && !d.hard, d.d})
		case ifBreak:
			if c.flat {
				cmds = append(cmds, cmd{c.indent, true, d.flat})
			} else {
				cmds = append(cmds, cmd{c.indent, false, d.brk})
			}
		}
	}
	return false
}
