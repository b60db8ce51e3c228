package interp

import (
	"fmt"
	"io"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
)

// Graph is a checked pipeline compiled into stages: one Node per binding,
// with edges to the nodes it depends on. Nodes are in dependency order.
type Graph struct {
	Nodes   []*Node
	checked *Checked
}

// Node is one stage of the graph.
type Node struct {
	Name string
	Span lang.Span
	Expr lang.Expr
	Type lang.Type
	Deps []*Node
}

// Compile turns a checked program into a graph. It fails if c holds
// bindings whose type is invalid (a program that did not check).
func Compile(c *Checked) (*Graph, error) {
	g := &Graph{checked: c}
	byName := map[string]*Node{}
	for _, b := range c.Bindings {
		if b.Type == nil || b.Type == lang.Invalid {
			return nil, fmt.Errorf("interp: binding %s did not check", b.Name)
		}
		n := &Node{Name: b.Name, Span: b.Stmt.At, Expr: b.Stmt.Value, Type: b.Type}
		for _, d := range b.Deps {
			dep, ok := byName[d]
			if !ok {
				return nil, fmt.Errorf("interp: binding %s depends on %s, which comes later", b.Name, d)
			}
			n.Deps = append(n.Deps, dep)
		}
		byName[b.Name] = n
		g.Nodes = append(g.Nodes, n)
	}
	return g, nil
}

// Checked returns the checked program the graph was compiled from.
func (g *Graph) Checked() *Checked { return g.checked }

// Dump writes a stable text form of the graph, one node a line:
//
//	fit: trained <- data, net
func (g *Graph) Dump(w io.Writer) {
	for _, n := range g.Nodes {
		names := make([]string, len(n.Deps))
		for i, d := range n.Deps {
			names[i] = d.Name
		}
		line := fmt.Sprintf("%s: %s", n.Name, n.Type)
		if len(names) > 0 {
			line += " <- " + strings.Join(names, ", ")
		}
		fmt.Fprintln(w, line)
	}
}
