package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/interp"
)

func (a *app) checkCmd() *cobra.Command {
	var sets []string
	cmd := &cobra.Command{
		Use:   "check FILE...",
		Short: "Check pipelines without running them",
		Long: `Check parses and checks each pipeline file and the files it imports, and
reports every problem at once as file:line:col: message, with the source line
and a caret. Nothing is computed and no data is read.`,
		Example: "  mlpipe check pipelines/quickstart.mlp\n  mlpipe check --set lr=3e-4 pipelines/fashion_mlp.mlp",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			overrides, err := parseSets(sets)
			if err != nil {
				return err
			}
			failed := false
			for _, path := range args {
				checked, _ := a.load(path, interp.Config{Overrides: overrides})
				if checked == nil {
					failed = true
					continue
				}
				stages := "stages"
				if len(checked.Bindings) == 1 {
					stages = "stage"
				}
				fmt.Fprintf(a.stdout, "ok  %s  (%d %s)\n", path, len(checked.Bindings), stages)
			}
			if failed {
				return &exitError{exitUsage}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a param: `NAME=VALUE` (repeatable)")
	return cmd
}
