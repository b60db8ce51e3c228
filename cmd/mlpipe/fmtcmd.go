package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/lang/printer"
	"github.com/mlpipe/mlpipe/parser"
)

func (a *app) fmtCmd() *cobra.Command {
	var write, list bool
	cmd := &cobra.Command{
		Use:   "fmt [-w | -l] FILE...",
		Short: "Format pipelines in the one canonical layout",
		Long: `Fmt prints each pipeline file in mlpipe's canonical layout. With -w it rewrites
the files in place (atomically); with -l it lists the files whose layout
differs. Comments are kept; formatting twice changes nothing. A file with a
syntax error is reported and left untouched.`,
		Example: "  mlpipe fmt -w pipelines/*.mlp",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if write && list {
				return fmt.Errorf("-w and -l cannot be combined")
			}
			failed := false
			for _, path := range args {
				src, err := os.ReadFile(path)
				if err != nil {
					fmt.Fprintf(a.stderr, "mlpipe fmt: %v\n", err)
					failed = true
					continue
				}
				f, err := parser.Parse(path, src)
				if err != nil {
					a.printDiags(err, lang.Sources{path: src})
					failed = true
					continue
				}
				out := printer.Format(f, src)
				switch {
				case list:
					if !bytes.Equal(out, src) {
						fmt.Fprintln(a.stdout, path)
					}
				case write:
					if !bytes.Equal(out, src) {
						if err := rewriteFile(path, out); err != nil {
							fmt.Fprintf(a.stderr, "mlpipe fmt: %v\n", err)
							failed = true
						}
					}
				default:
					a.stdout.Write(out)
				}
			}
			if failed {
				return &exitError{exitUsage}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&write, "write", "w", false, "rewrite the files in place")
	cmd.Flags().BoolVarP(&list, "list", "l", false, "list the files whose layout differs")
	return cmd
}

// rewriteFile replaces the content of the file at path with data
// atomically (interp.WriteFileAtomicPerm), keeping the file's permissions and
// rewriting the target of a symbolic link rather than replacing the link.
func rewriteFile(path string, data []byte) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	info, err := os.Stat(target)
	if err != nil {
		return err
	}
	if err := interp.WriteFileAtomicPerm(target, data, info.Mode().Perm()); err != nil {
		return fmt.Errorf("mlpipe fmt: %w", err)
	}
	return nil
}
