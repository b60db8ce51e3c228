// Command mlpipe checks, runs, formats and documents .mlp pipelines.
//
//	mlpipe run FILE [--set NAME=VALUE]... [--out DIR]
//	mlpipe check FILE...
//	mlpipe doc [NAME]
//	mlpipe fmt [-w] FILE...
//	mlpipe version
//
// Exit status: 0 on success, 1 when a run fails, 2 for usage and check
// errors, 130 when interrupted.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/stdlib"
)

// Exit statuses.
const (
	exitOK          = 0
	exitRunFailed   = 1
	exitUsage       = 2
	exitInterrupted = 130
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// exitError carries an exit status out of a command; its message, if any,
// has already been printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// app is the state shared by the subcommands.
type app struct {
	stdout, stderr io.Writer
	registry       *interp.Registry
	backend        backendFlags
}

// Main runs the mlpipe command line with args and returns the exit status.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr, registry: stdlib.NewRegistry()}
	root := &cobra.Command{
		Use:   "mlpipe",
		Short: "Check, run and document declarative machine-learning pipelines (.mlp files)",
		Long: `mlpipe runs machine-learning experiments written as short declarative
pipeline files (.mlp). Every pipeline is checked before anything runs: names,
parameter types and ranges, kinds of values and widths across stages, with
each problem reported at file:line:col.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// mlpipe alone is a usage error: show what it takes.
			cmd.SetOut(stderr)
			_ = cmd.Help()
			return &exitError{exitUsage}
		},
	}
	a.backend.register(root)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(a.runCmd(), a.checkCmd(), a.hashCmd(), a.sweepCmd(), a.runsCmd(), a.cacheCmd(), a.docCmd(), a.fmtCmd(), a.versionCmd(), a.benchCmd(), a.benchWorkerCmd())
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	// Cobra's own usage errors: unknown command or flag, wrong arg count.
	fmt.Fprintf(stderr, "mlpipe: %v\n", err)
	fmt.Fprintln(stderr, "Run 'mlpipe --help' for usage.")
	return exitUsage
}
