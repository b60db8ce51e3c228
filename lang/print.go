package lang

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
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

// caret returns the marker line for span within line: spaces up to the start
// column and one ^ per byte of the span on that line (at least one).
func caret(line string, s Span) string {
	start := s.Start.Col - 1
	if start < 0 {
		start = 0
	}
	if start > len(line) {
		start = len(line)
	}
	n := 1
	if s.End.Line == s.Start.Line && s.End.Col > s.Start.Col {
		n = s.End.Col - s.Start.Col
	} else if s.End.Line > s.Start.Line {
		n = len(line) - start
	}
	if n < 1 {
		n = 1
	}
	var b strings.Builder
	for i := 0; i < start; i++ {
		if line[i] == '\t' {
			b.WriteString("    ")
		} else {
			b.WriteByte(' ')
		}
	}
	b.WriteString(strings.Repeat("^", n))
	return b.String()
}

func expandTabs(s string) string { return strings.ReplaceAll(s, "\t", "    ") }
