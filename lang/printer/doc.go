// Package printer prints a .mlp syntax tree in the one canonical layout
// that `mlpipe fmt` writes. Format prints a whole file, comments included;
// FormatExpr prints one expression on one line, for messages and for
// `mlpipe hash`.
//
// The printer changes only the layout: parsing its output gives back the
// same tree (positions aside) and the same comments. Formatting is
// idempotent: formatting the output again changes nothing.
//
// # Canonical layout
//
// File. The header `mlpipe N` comes first (N as a plain number: `mlpipe 01`
// becomes `mlpipe 1`), then the statements in source order (they are never
// reordered). Exactly one empty line follows the header. Empty lines between
// statements are kept, so the user's grouping stays, but a run of them
// becomes a single one; there is none at the start or the end of the file.
// The output ends with exactly one newline, has no trailing spaces, and uses
// "\n" line endings even if the input used "\r\n".
//
// Statements. One per line:
//
//	import "common.mlp"
//	param lr = 1e-3
//	net = mlp(hidden: [256, 128], out: 10) | linear(out: 3)
//
// with a single space on each side of `=`. Consecutive `=` are not aligned
// across lines: alignment makes one changed name rewrite its neighbours'
// lines, and diffs noisy.
//
// Experiment block. Always on several lines, one `key = value` per line,
// indented by two spaces, and `}` on its own line (an empty block too):
//
//	experiment "fashion-mlp" {
//	  version = "1.0.0"
//	  seed = 7
//	}
//
// Empty lines between attributes are kept like those between statements.
//
// Sweep block. Laid out as the experiment block, with its name when it has
// one:
//
//	sweep "lr-width" {
//	  lr = [1e-3, 3e-3]
//	  seeds = 2
//	}
//
// Expressions. Calls are `f(a, b, key: value)`: no space before `(`, ", "
// between arguments, ": " after an argument's name. Lists are `[1, 2, 3]`.
// Binary operators have one space on each side (`a | b`, `x + 0.1 * y`);
// unary minus is tight (`-x`); member access is tight (`data.train`), except
// after an integer literal, where `1 .x` keeps its space because `1.x` would
// read as the float `1.`. Parentheses appear exactly where the source has
// them (a ParenExpr): the printer adds none and drops none, so the tree is
// unchanged. Literals keep their source text (Raw): `1e-3` stays `1e-3`,
// `0.10` stays `0.10`, and strings keep their quoting and escapes; so do the
// import path and the experiment name, taken from the source.
//
// Long lines. A statement is printed on one line unless that line would be
// longer than 100 columns (a trailing comment does not count) or a comment
// lies inside one of its calls or lists. Then its outermost call is broken:
// its arguments go one per line, indented two spaces more than the
// statement, each followed by a comma, and the closing `)` goes on a line of
// its own at the statement's indentation:
//
//	fit = train(
//	  net,
//	  data.train,
//	  loss: cross_entropy() + 0.1 * l2(),
//	  optimizer: adam(lr: lr),
//	)
//
// Calls nested in the arguments stay on one line unless they themselves are
// too long or hold a comment; then the same rule applies to them,
// recursively. Lists break the same way, with `]`. When a statement has
// several outermost calls (`a(...) | b(...)`), they are considered from left
// to right: a call stays on one line if it fits there together with what
// follows it up to the next call's `(`, and what comes after a broken call's
// `)` stays on that `)` line (`) | b(x)`).
// Operators are never broken around; a statement without calls or lists
// stays on one line however long it is.
//
// Comments. Every comment is kept, with its text (trailing blanks removed),
// attached to where it was:
//
//   - a comment on its own line(s) before a statement stays before it, at
//     the same indentation; the same holds before an attribute of an
//     experiment block and before an argument or element of a broken call or
//     list;
//   - a comment on the line where a statement (attribute, argument, element)
//     ends stays at the end of that line, after its comma if it has one,
//     separated by two spaces;
//   - a comment on its own line after the last argument or element of a
//     call or list stays on its own line before the `)` or `]`; after the
//     last attribute of an experiment block, before the `}`; after the last
//     statement, at the end of the file (empty lines before it kept as
//     between statements);
//   - comments before the header stay before it, and a comment on the
//     header's line trails the header (unless a statement starts on that
//     line before the comment: then it trails the statement);
//   - a comment just after an opening `(`, `[` or `{` goes on its own line
//     before the first argument, element or attribute;
//   - a comment inside a call or list forces it (and the calls and lists
//     around it) to break, so that the comment can keep its line;
//   - a comment somewhere no line can break (between a name and its `=`,
//     between an operator and its operand, inside parentheses but outside
//     any call or list) moves to its own line before the innermost
//     statement, attribute, argument or element that holds it.
//
// Empty lines inside calls and lists are not kept.
package printer
