package main

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/parser"
	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// Version is mlpipe's version.
const Version = "0.1.0"

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print mlpipe's version, language version and compute backend",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := a.backend.setup(); err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
				return &exitError{exitUsage}
			}
			fmt.Fprintf(a.stdout, "mlpipe %s\n", Version)
			fmt.Fprintf(a.stdout, "language: mlpipe %d\n", parser.LanguageVersion)
			fmt.Fprintf(a.stdout, "backend: %s\n", backend.Describe())
			fmt.Fprintf(a.stdout, "threads: GOMAXPROCS %d of %d cores\n", runtime.GOMAXPROCS(0), runtime.NumCPU())
			rev := "unknown"
			if info, ok := debug.ReadBuildInfo(); ok {
				for _, s := range info.Settings {
					if s.Key == "vcs.revision" {
						rev = s.Value
					}
				}
			}
			fmt.Fprintf(a.stdout, "go: %s %s/%s, commit %s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH, rev)
			return nil
		},
	}
}
