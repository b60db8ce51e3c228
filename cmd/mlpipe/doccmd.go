package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
)

func (a *app) docCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doc [NAME]",
		Short: "Document the components: all of them by kind, or one in full",
		Long: `Doc lists every component of the standard library by kind, or shows one
component with its parameters, their types, defaults and allowed values, and
an example. It reads the same declarations the checker uses.`,
		Example: "  mlpipe doc\n  mlpipe doc adam",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				writeIndex(a.stdout, a.registry)
				return nil
			}
			c, ok := a.registry.Lookup(args[0])
			if !ok {
				msg := fmt.Sprintf("mlpipe doc: unknown component %q", args[0])
				if s := lang.Suggest(args[0], a.registry.Names()); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				}
				fmt.Fprintln(a.stderr, msg)
				fmt.Fprintln(a.stderr, "Run 'mlpipe doc' for the list.")
				return &exitError{exitUsage}
			}
			writeComponent(a.stdout, &c.Spec)
			return nil
		},
	}
}

// writeIndex lists the components grouped by category, each with the first
// sentence of its doc.
func writeIndex(w io.Writer, r *interp.Registry) {
	var cat lang.Kind
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range r.All() {
		if c.Spec.Category != cat {
			if cat != "" {
				fmt.Fprintln(tw)
			}
			cat = c.Spec.Category
			fmt.Fprintf(tw, "%s:\n", strings.ToUpper(string(cat[:1]))+string(cat[1:]))
		}
		fmt.Fprintf(tw, "  %s\t%s\n", c.Spec.Name, firstSentence(c.Spec.Doc))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nRun 'mlpipe doc NAME' for a component's parameters.")
}

func firstSentence(s string) string {
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// writeComponent shows one component in full.
func writeComponent(w io.Writer, s *lang.ComponentSpec) {
	fmt.Fprintf(w, "%s  (%s)\n\n", s.Name, s.Category)
	fmt.Fprintf(w, "%s\n\n", s.Doc)
	fmt.Fprintf(w, "Returns: %s", lang.Describe(s.Result))
	if o, ok := s.Result.(*lang.Object); ok && len(o.Fields) > 0 {
		fmt.Fprintf(w, " (members: %s)", strings.Join(o.FieldNames(), ", "))
	}
	fmt.Fprint(w, "\n\n")
	if len(s.Params) == 0 {
		fmt.Fprintln(w, "Parameters: none")
	} else {
		fmt.Fprintln(w, "Parameters:")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  name\ttype\tdefault\tallowed\tdescription")
		for _, p := range s.Params {
			name := p.Name
			if p.Positional {
				name += " (positional)"
			}
			def := "required"
			switch {
			case !p.Required && p.Default != nil:
				def = lang.FormatValue(p.Default)
			case !p.Required:
				def = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", name, p.Type, def, allowed(&p), p.Doc)
		}
		tw.Flush()
	}
	if s.Example != "" {
		fmt.Fprintf(w, "\nExample:\n  %s\n", s.Example)
	}
}

func allowed(p *lang.ParamSpec) string {
	switch {
	case len(p.Enum) > 0:
		return strings.Join(p.Enum, "|")
	case p.Range != nil && !(math.IsInf(p.Range.Min, -1) && math.IsInf(p.Range.Max, 1)):
		return p.Range.Describe()
	}
	return "-"
}
