// Package parser turns .mlp source text into the lang syntax tree.
//
// The concrete grammar is written as participle/v2 struct tags in
// grammar.go; Grammar returns it in EBNF. The participle tree is lowered
// into lang nodes (lower.go) so that nothing past this package depends on
// participle. Load reads a main file and everything it imports.
package parser
