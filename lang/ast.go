package lang

// Node is any node of the syntax tree. Span covers the node's source text.
type Node interface {
	Span() Span
}

// File is one parsed .mlp file.
type File struct {
	Name     string     // the file name, as given to the parser
	Version  int        // the language version in the header (0 if absent)
	Header   Span       // span of the "mlpipe N" header
	Stmts    []Stmt     // statements in source order
	Comments []*Comment // every comment, in source order
	Whole    Span       // the whole file
}

// Span returns the span of the whole file.
func (f *File) Span() Span { return f.Whole }

// Comment is a "# ..." comment. Text includes the leading '#'.
type Comment struct {
	Text string
	At   Span
}

// Span returns the comment's span.
func (c *Comment) Span() Span { return c.At }

// Stmt is a top-level statement: *ImportStmt, *ParamStmt, *ExperimentStmt,
// *SweepStmt
// or *BindStmt.
type Stmt interface {
	Node
	stmtNode()
}

// ImportStmt is `import "path"`.
type ImportStmt struct {
	Path     string // the unquoted path
	PathSpan Span
	At       Span
}

// ParamStmt is `param NAME = default`: a constant that the command line can
// override with --set NAME=value.
type ParamStmt struct {
	Name  *Ident
	Value Expr
	At    Span
}

// ExperimentStmt is `experiment "name" { key = value ... }`.
type ExperimentStmt struct {
	Name     string
	NameSpan Span
	Attrs    []*Attr
	At       Span
}

// SweepStmt is `sweep "name" { param = [values] ... seeds = N }`: a grid
// over params and a number of seed replicates, each combination one run.
// Name is "" (and NameSpan invalid) when the block has no name.
type SweepStmt struct {
	Name     string
	NameSpan Span
	Attrs    []*Attr
	At       Span
}

// Attr is `key = value` inside an experiment or sweep block.
type Attr struct {
	Name  *Ident
	Value Expr
	At    Span
}

// BindStmt is `name = expr`: a named stage of the pipeline.
type BindStmt struct {
	Name  *Ident
	Value Expr
	At    Span
}

// Span returns the statement's span.
func (s *ImportStmt) Span() Span { return s.At }

// Span returns the statement's span.
func (s *ParamStmt) Span() Span { return s.At }

// Span returns the statement's span.
func (s *ExperimentStmt) Span() Span { return s.At }

// Span returns the statement's span.
func (s *SweepStmt) Span() Span { return s.At }

// Span returns the attribute's span.
func (a *Attr) Span() Span { return a.At }

// Span returns the statement's span.
func (s *BindStmt) Span() Span { return s.At }

func (*ImportStmt) stmtNode()     {}
func (*ParamStmt) stmtNode()      {}
func (*ExperimentStmt) stmtNode() {}
func (*SweepStmt) stmtNode()      {}
func (*BindStmt) stmtNode()       {}

// Expr is an expression: *Ident, *IntLit, *FloatLit, *StringLit, *BoolLit,
// *ListExpr, *CallExpr, *SelectorExpr, *BinaryExpr, *UnaryExpr or
// *ParenExpr.
type Expr interface {
	Node
	exprNode()
}

// Ident is a name.
type Ident struct {
	Name string
	At   Span
}

// IntLit is an integer literal. Raw is its source text.
type IntLit struct {
	Value int64
	Raw   string
	At    Span
}

// FloatLit is a floating-point literal such as 0.1 or 1e-3.
type FloatLit struct {
	Value float64
	Raw   string
	At    Span
}

// StringLit is a double-quoted string literal; Value is unquoted.
type StringLit struct {
	Value string
	Raw   string
	At    Span
}

// BoolLit is true or false.
type BoolLit struct {
	Value bool
	At    Span
}

// ListExpr is [a, b, ...].
type ListExpr struct {
	Elems []Expr
	At    Span
}

// CallExpr is a component call: name(positional, ..., key: value, ...).
type CallExpr struct {
	Func *Ident
	Args []*Arg
	At   Span
}

// Arg is one argument of a call; Name is nil for a positional argument.
type Arg struct {
	Name  *Ident
	Value Expr
	At    Span
}

// Span returns the argument's span.
func (a *Arg) Span() Span { return a.At }

// SelectorExpr is member access: X.Sel, as in data.train or fit.model.
type SelectorExpr struct {
	X   Expr
	Sel *Ident
	At  Span
}

// BinaryExpr is X Op Y with Op one of "|", "+", "-", "*", "/".
type BinaryExpr struct {
	Op     string
	OpSpan Span
	X, Y   Expr
	At     Span
}

// UnaryExpr is -X.
type UnaryExpr struct {
	Op string
	X  Expr
	At Span
}

// ParenExpr is (X).
type ParenExpr struct {
	X  Expr
	At Span
}

// Span returns the node's span.
func (e *Ident) Span() Span { return e.At }

// Span returns the node's span.
func (e *IntLit) Span() Span { return e.At }

// Span returns the node's span.
func (e *FloatLit) Span() Span { return e.At }

// Span returns the node's span.
func (e *StringLit) Span() Span { return e.At }

// Span returns the node's span.
func (e *BoolLit) Span() Span { return e.At }

// Span returns the node's span.
func (e *ListExpr) Span() Span { return e.At }

// Span returns the node's span.
func (e *CallExpr) Span() Span { return e.At }

// Span returns the node's span.
func (e *SelectorExpr) Span() Span { return e.At }

// Span returns the node's span.
func (e *BinaryExpr) Span() Span { return e.At }

// Span returns the node's span.
func (e *UnaryExpr) Span() Span { return e.At }

// Span returns the node's span.
func (e *ParenExpr) Span() Span { return e.At }

func (*Ident) exprNode()        {}
func (*IntLit) exprNode()       {}
func (*FloatLit) exprNode()     {}
func (*StringLit) exprNode()    {}
func (*BoolLit) exprNode()      {}
func (*ListExpr) exprNode()     {}
func (*CallExpr) exprNode()     {}
func (*SelectorExpr) exprNode() {}
func (*BinaryExpr) exprNode()   {}
func (*UnaryExpr) exprNode()    {}
func (*ParenExpr) exprNode()    {}

// Program is a main file together with every file it imports, directly or
// not. Files lists the imported files first, in the order a depth-first
// walk finishes them, and the main file last.
type Program struct {
	Main  *File
	Files []*File
}
