package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/interp"
)

func (a *app) hashCmd() *cobra.Command {
	var (
		sets      []string
		canonical bool
	)
	cmd := &cobra.Command{
		Use:   "hash FILE",
		Short: "Print a pipeline's definition id and run id",
		Long: `Hash checks the pipeline and prints two ids. The definition id is the hash of
the pipeline's canonical form: imports inlined, params resolved (--set
included), every call with all its parameters, bindings sorted by name.
Formatting, comments, the order of bindings and the file they are in do not
change it; a changed value, seed, experiment version or binding name does.
The run id hashes the definition id, the seed and mlpipe's version: a run
with the same three is the same run. --canonical also prints the canonical
form that was hashed.`,
		Example: "  mlpipe hash pipelines/quickstart.mlp\n  mlpipe hash --set lr=1e-2 --canonical pipelines/quickstart.mlp",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			overrides, err := parseSets(sets)
			if err != nil {
				return err
			}
			checked, _ := a.load(args[0], interp.Config{Overrides: overrides})
			if checked == nil {
				return &exitError{exitUsage}
			}
			def := interp.DefinitionID(checked)
			if canonical {
				fmt.Fprint(a.stdout, interp.Canonical(checked))
			}
			fmt.Fprintf(a.stdout, "definition %s\n", def)
			fmt.Fprintf(a.stdout, "run        %s\n", interp.RunID(def, checked.Experiment.Seed, Version))
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a param: `NAME=VALUE` (repeatable)")
	cmd.Flags().BoolVar(&canonical, "canonical", false, "also print the canonical form")
	return cmd
}
