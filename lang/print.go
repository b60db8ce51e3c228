package lang

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Sources maps a file name, as it appears in spans, to the file's content. The
// printer uses it to show the offending source line.
type Sources map[string][]byte

// Line returns the text of the 1-based line n of file, without its newline,
// and whether it exists.
func (s Sources) Line(file string, n int) (string, bool) {
	src, ok := s[file]
	if !ok || n < 1 {
		return "", false
	}
	for i := 1; i < n; i++ {
		j := bytes.IndexByte(src, '\n')
		if j < 0 {
			return "", false
		}
		src = src[j+1:]
	}
	if j := bytes.IndexByte(src, '\n'); j >= 0 {
		src = src[:j]
	}
	return strings.TrimRight(string(src), "\r"), true
}

// Fprint writes the diagnostics to w, each as its one-line form followed,
// when the source is known, by the source line with a caret under the span,
// its suggestion and notes:
//
//	pipelines/x.mlp:4:23: unknown parameter "lerning_rate" for adam
//	   |
//	 4 | opt = adam(lerning_rate: 0.01)
//	   |            ^^^^^^^^^^^^
//	   = did you mean "lr"?
func Fprint(w io.Writer, diags Diagnostics, src Sources) {
	for _, d := range diags {
		fmt.Fprintln(w, d.Span.String()+": "+severityPrefix(d)+d.Message)
		line, ok := "", false
		if d.Span.IsValid() {
			line, ok = src.Line(d.Span.File, d.Span.Start.Line)
		}
		gutter := strings.Repeat(" ", len(strconv.Itoa(d.Span.Start.Line)))
		if ok {
			fmt.Fprintf(w, "%s |\n", gutter)
			fmt.Fprintf(w, "%d | %s\n", d.Span.Start.Line, expandTabs(line))
			fmt.Fprintf(w, "%s | %s\n", gutter, caret(line, d.Span))
		}
		if d.Suggest != "" {
			fmt.Fprintf(w, "%s = did you mean %q?\n", gutter, d.Suggest)
		}
		for _, n := range d.Notes {
			fmt.Fprintf(w, "%s = %s\n", gutter, n)
		}
	}
}

func severityPrefix(d *Diagnostic) string {
	if d.Severity == Warning {
		return "warning: "
	}
	return ""
}

// caret returns the marker line for span within line: blanks up to the start
// column and one ^ per character of the span on that line (at least one).
// Columns count bytes; the marker counts characters, so it lines up under
// text that is not ASCII.
func caret(line string, s Span) string {
	start := min(max(s.Start.Col-1, 0), len(line))
	end := start + 1
	switch {
	case s.End.Line == s.Start.Line && s.End.Col > s.Start.Col:
		end = s.End.Col - 1
	case s.End.Line > s.Start.Line:
		end = len(line)
	}
	end = min(max(end, start), len(line))
	var b strings.Builder
	for _, r := range line[:start] {
		if r == '\t' {
			b.WriteString("    ")
		} else {
			b.WriteByte(' ')
		}
	}
	n := max(utf8.RuneCountInString(line[start:end]), 1)
	b.WriteString(strings.Repeat("^", n))
	return b.String()
}

func expandTabs(s string) string { return strings.ReplaceAll(s, "\t", "    ") }
