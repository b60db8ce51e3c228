package interp_test

import (
	"bytes"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/parser"
)

var update = flag.Bool("update", os.Getenv("MLPIPE_UPDATE") != "", "rewrite the out/graph sections of testdata/graph/*.txtar")

// TestGraphDump checks the in.mlp section of every testdata/graph/*.txtar
// archive with the standard registry (other .mlp sections may be
// imported), compiles it and compares Graph.Dump with the out/graph
// section. go test ./interp -update rewrites out/graph.
func TestGraphDump(t *testing.T) {
	files, err := filepath.Glob("testdata/graph/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/graph/*.txtar files (%v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			a, err := txtar.ParseFile(file)
			if err != nil {
				t.Fatal(err)
			}
			srcs := map[string][]byte{}
			outIdx := -1
			for i, f := range a.Files {
				if f.Name == "out/graph" {
					outIdx = i
				} else {
					srcs[f.Name] = f.Data
				}
			}
			ld := parser.Loader{ReadFile: func(name string) ([]byte, error) {
				if src, ok := srcs[filepath.ToSlash(name)]; ok {
					return src, nil
				}
				return nil, fs.ErrNotExist
			}}
			prog, _, err := ld.Load("in.mlp")
			if err != nil {
				t.Fatal(err)
			}
			c, err := interp.Check(prog, stdRegistry(), interp.Config{})
			if err != nil {
				t.Fatal(err)
			}
			g, err := interp.Compile(c)
			if err != nil {
				t.Fatal(err)
			}
			if g.Checked() != c {
				t.Errorf("Graph.Checked is not the program it was compiled from")
			}
			var buf bytes.Buffer
			g.Dump(&buf)
			if *update {
				if outIdx < 0 {
					a.Files = append(a.Files, txtar.File{Name: "out/graph"})
					outIdx = len(a.Files) - 1
				}
				a.Files[outIdx].Data = buf.Bytes()
				if err := os.WriteFile(file, txtar.Format(a), 0o666); err != nil {
					t.Fatal(err)
				}
				return
			}
			if outIdx < 0 {
				t.Fatal("no -- out/graph -- section; run go test ./interp -update")
			}
			if got, want := buf.String(), string(a.Files[outIdx].Data); got != want {
				t.Errorf("Dump differs (go test ./interp -update to accept):\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}
