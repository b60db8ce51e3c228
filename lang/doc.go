// Package lang is the shared vocabulary of the mlpipe language: source
// positions and spans, diagnostics and their printing, the abstract syntax
// tree of a .mlp file, the static types the checker assigns to expressions,
// and the description of a component's parameters.
//
// lang imports nothing else of mlpipe. The parser produces lang trees, the
// interpreter checks and runs them, and the command line prints lang
// diagnostics.
package lang
