// Package interp checks a parsed pipeline against a registry of components,
// compiles it into a graph of stages and runs that graph.
//
// # Components
//
// Every component of the standard library is declared once, as a Def: its
// name, category, documentation, an Args struct whose tagged fields are its
// parameters (types, defaults, ranges, enums and docs), an optional Infer
// function that computes the static result type and checks cross-parameter
// and shape constraints, and a Build function that runs it. Register derives
// the lang.ComponentSpec from the Def once; the checker, `mlpipe doc` and the
// executor all read that one declaration. Adding a component never touches
// the checker.
//
// # Checking
//
// Check resolves names, checks every call against its component's spec,
// folds constants, checks ranges and kinds and the widths of composed
// models and data sets, and reports every problem at once as lang
// diagnostics. Nothing runs before the whole program checks.
//
// # Running
//
// Compile orders the checked bindings into a Graph; Run executes it in
// dependency order, independent stages concurrently, and stops cleanly when
// its context is cancelled. A run-time failure is reported as a
// *StageError naming the stage and its source position.
//
// interp never imports the parser, the standard library or gorgonia.
package interp
