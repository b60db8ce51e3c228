package lang

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/go-multierror"
)

// Severity says how bad a diagnostic is.
type Severity int

// The severities, from worst to mildest.
const (
	Error Severity = iota
	Warning
)

// String returns "error" or "warning".
func (s Severity) String() string {
	if s == Warning {
		return "warning"
	}
	return "error"
}

// Diagnostic is one message about a source range. It implements error.
// Message is short and stable in wording; Suggest holds a "did you mean"
// candidate, and Notes hold further advice, one line each.
type Diagnostic struct {
	Severity Severity
	Span     Span
	Message  string
	Suggest  string
	Notes    []string
}

// Errorf returns an error diagnostic at span.
func Errorf(span Span, format string, args ...any) *Diagnostic {
	return &Diagnostic{Severity: Error, Span: span, Message: fmt.Sprintf(format, args...)}
}

// Error formats d on one line: file:line:col: message (did you mean "x"?).
func (d *Diagnostic) Error() string {
	var b strings.Builder
	b.WriteString(d.Span.String())
	b.WriteString(": ")
	if d.Severity == Warning {
		b.WriteString("warning: ")
	}
	b.WriteString(d.Message)
	if d.Suggest != "" {
		fmt.Fprintf(&b, " (did you mean %q?)", d.Suggest)
	}
	return b.String()
}

// WithSuggest sets d's "did you mean" candidate and returns d.
func (d *Diagnostic) WithSuggest(s string) *Diagnostic { d.Suggest = s; return d }

// WithNote appends a note to d and returns d.
func (d *Diagnostic) WithNote(format string, args ...any) *Diagnostic {
	d.Notes = append(d.Notes, fmt.Sprintf(format, args...))
	return d
}

// Diagnostics is a list of diagnostics, collected so that every problem in a
// file is reported at once.
type Diagnostics []*Diagnostic

// Add appends d to the list.
func (ds *Diagnostics) Add(d *Diagnostic) { *ds = append(*ds, d) }

// Errorf appends an error diagnostic at span and returns it, so a caller can
// attach a suggestion or a note.
func (ds *Diagnostics) Errorf(span Span, format string, args ...any) *Diagnostic {
	d := Errorf(span, format, args...)
	*ds = append(*ds, d)
	return d
}

// HasErrors reports whether the list holds a diagnostic of severity Error.
func (ds Diagnostics) HasErrors() bool {
	for _, d := range ds {
		if d.Severity == Error {
			return true
		}
	}
	return false
}

// Sort orders the list by file, then position, then message, and drops exact
// duplicates (same span and message).
func (ds *Diagnostics) Sort() {
	list := *ds
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Span, list[j].Span
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Start.Line != b.Start.Line {
			return a.Start.Line < b.Start.Line
		}
		if a.Start.Col != b.Start.Col {
			return a.Start.Col < b.Start.Col
		}
		return list[i].Message < list[j].Message
	})
	out := list[:0]
	for i, d := range list {
		if i > 0 {
			p := out[len(out)-1]
			if p.Span == d.Span && p.Message == d.Message {
				continue
			}
		}
		out = append(out, d)
	}
	*ds = out
}

// Err returns nil if the list holds no errors, and otherwise a
// *multierror.Error whose wrapped errors are the diagnostics (warnings
// included), sorted, one per line.
func (ds Diagnostics) Err() error {
	if !ds.HasErrors() {
		return nil
	}
	sorted := append(Diagnostics(nil), ds...)
	sorted.Sort()
	var merr *multierror.Error
	for _, d := range sorted {
		merr = multierror.Append(merr, d)
	}
	merr.ErrorFormat = func(errs []error) string {
		lines := make([]string, len(errs))
		for i, e := range errs {
			lines[i] = e.Error()
		}
		return strings.Join(lines, "\n")
	}
	return merr
}

// DiagnosticsOf extracts the diagnostics carried by err: the wrapped errors
// of a multi-error, or a single *Diagnostic anywhere in err's chain. It
// returns nil if err carries none.
func DiagnosticsOf(err error) Diagnostics {
	if err == nil {
		return nil
	}
	var multi interface{ WrappedErrors() []error }
	if errors.As(err, &multi) {
		var out Diagnostics
		for _, e := range multi.WrappedErrors() {
			out = append(out, DiagnosticsOf(e)...)
		}
		return out
	}
	var d *Diagnostic
	if errors.As(err, &d) {
		return Diagnostics{d}
	}
	return nil
}
