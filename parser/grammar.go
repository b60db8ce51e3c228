package parser

import (
	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

// mlpLexer splits .mlp source into tokens. Comments run from '#' to the end
// of the line; whitespace, newlines included, separates tokens and carries
// no meaning.
var mlpLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Comment", Pattern: `#[^\n]*`},
	{Name: "String", Pattern: `"(\\[\\"nt]|[^"\\\n])*"`},
	{Name: "Float", Pattern: `[0-9]+\.[0-9]*([eE][-+]?[0-9]+)?|\.[0-9]+([eE][-+]?[0-9]+)?|[0-9]+[eE][-+]?[0-9]+`},
	{Name: "Int", Pattern: `[0-9]+`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*`},
	{Name: "Punct", Pattern: `[-+*/|.,:=()\[\]{}]`},
	{Name: "Whitespace", Pattern: `[ \t\r\n]+`},
})

// The concrete syntax tree. Each struct is one grammar rule; lower.go turns
// it into lang nodes.

type source struct {
	Header *header      `parser:"@@?"`
	Stmts  []*statement `parser:"@@*"`
}

type header struct {
	Pos     lexer.Position
	Tokens  []lexer.Token
	Version string `parser:"'mlpipe' @Int"`
}

type statement struct {
	Import     *importDecl     `parser:"@@"`
	Param      *paramDecl      `parser:"| @@"`
	Experiment *experimentDecl `parser:"| @@"`
	Sweep      *sweepDecl      `parser:"| @@"`
	Bind       *binding        `parser:"| @@"`
}

type importDecl struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Path   string `parser:"'import' @String"`
}

type paramDecl struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Name   *name       `parser:"'param' @@"`
	Value  *expression `parser:"'=' @@"`
}

type experimentDecl struct {
	Pos     lexer.Position
	Tokens  []lexer.Token
	NamePos lexer.Position
	Name    string       `parser:"'experiment' @String"`
	Attrs   []*attribute `parser:"'{' @@* '}'"`
}

type sweepDecl struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Name   *string      `parser:"'sweep' @String?"`
	Attrs  []*attribute `parser:"'{' @@* '}'"`
}

type attribute struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Name   *name       `parser:"@@ '='"`
	Value  *expression `parser:"@@"`
}

type binding struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Name   *name       `parser:"@@ '='"`
	Value  *expression `parser:"@@"`
}

type name struct {
	Pos  lexer.Position
	Name string `parser:"@Ident"`
}

// expression is a pipe: the lowest-precedence operator.
type expression struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Head   *sum        `parser:"@@"`
	Tail   []*pipeTail `parser:"@@*"`
}

type pipeTail struct {
	Pos lexer.Position
	Op  string `parser:"@'|'"`
	Y   *sum   `parser:"@@"`
}

type sum struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Head   *product   `parser:"@@"`
	Tail   []*sumTail `parser:"@@*"`
}

type sumTail struct {
	Pos lexer.Position
	Op  string   `parser:"@('+' | '-')"`
	Y   *product `parser:"@@"`
}

type product struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Head   *unary         `parser:"@@"`
	Tail   []*productTail `parser:"@@*"`
}

type productTail struct {
	Pos lexer.Position
	Op  string `parser:"@('*' | '/')"`
	Y   *unary `parser:"@@"`
}

type unary struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Neg    bool     `parser:"@'-'?"`
	X      *postfix `parser:"@@"`
}

type postfix struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	X      *primary `parser:"@@"`
	Sels   []*name  `parser:"( '.' @@ )*"`
}

type primary struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Call   *call       `parser:"@@"`
	Float  *string     `parser:"| @Float"`
	Int    *string     `parser:"| @Int"`
	String *string     `parser:"| @String"`
	Bool   *string     `parser:"| @('true' | 'false')"`
	List   *list       `parser:"| @@"`
	Paren  *expression `parser:"| '(' @@ ')'"`
	Ident  *name       `parser:"| @@"`
}

type call struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Func   *name       `parser:"@@ '('"`
	Args   []*argument `parser:"( @@ ( ',' @@ )* ','? )? ')'"`
}

type argument struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Name   *name       `parser:"( @@ ':' )?"`
	Value  *expression `parser:"@@"`
}

type list struct {
	Pos    lexer.Position
	Tokens []lexer.Token
	Elems  []*expression `parser:"'[' ( @@ ( ',' @@ )* ','? )? ']'"`
}

var options = []participle.Option{
	participle.Lexer(mlpLexer),
	participle.Elide("Whitespace", "Comment"),
	participle.UseLookahead(3),
}

// fileParser and exprParser are built once; they hold no mutable state and
// are safe for concurrent use.
var (
	fileParser = participle.MustBuild[source](options...)
	exprParser = participle.MustBuild[expression](options...)
)

// Grammar returns the grammar of .mlp files in EBNF, as participle derives it
// from the parser's rules. docs/language.md quotes it, and a golden test
// keeps the two in step.
func Grammar() string { return fileParser.String() }
