package parser_test

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

// memFS is an in-memory file system for the loader; it counts reads.
type memFS struct {
	files map[string]string
	reads map[string]int
}

func newMemFS(files map[string]string) *memFS {
	return &memFS{files: files, reads: map[string]int{}}
}

func (m *memFS) ReadFile(name string) ([]byte, error) {
	name = filepath.ToSlash(name)
	m.reads[name]++
	src, ok := m.files[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return []byte(src), nil
}

func (m *memFS) load(path string) (*lang.Program, lang.Sources, error) {
	return parser.Loader{ReadFile: m.ReadFile}.Load(path)
}

// fileNames lists the names of prog.Files in order.
func fileNames(prog *lang.Program) []string {
	var out []string
	for _, f := range prog.Files {
		out = append(out, filepath.ToSlash(f.Name))
	}
	return out
}

func TestLoadChain(t *testing.T) {
	m := newMemFS(map[string]string{
		"main.mlp":          "mlpipe 1\nimport \"lib/a.mlp\"\nx = a\n",
		"lib/a.mlp":         "mlpipe 1\nimport \"b.mlp\"\na = b\n",
		"lib/b.mlp":         "mlpipe 1\nimport \"../common/c.mlp\"\nb = c\n",
		"common/c.mlp":      "mlpipe 1\nc = 1\n",
		"common/unused.mlp": "mlpipe 1\n",
	})
	prog, sources, err := m.load("main.mlp")
	if err != nil {
		t.Fatal(err)
	}
	// Imported files first, in the order a depth-first walk finishes them.
	want := []string{"common/c.mlp", "lib/b.mlp", "lib/a.mlp", "main.mlp"}
	if got := fileNames(prog); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Files = %v, want %v", got, want)
	}
	if prog.Main == nil || prog.Main.Name != "main.mlp" || prog.Files[len(prog.Files)-1] != prog.Main {
		t.Errorf("Main is not the last file: %v", prog.Main)
	}
	var srcNames []string
	for name := range sources {
		srcNames = append(srcNames, filepath.ToSlash(name))
	}
	sort.Strings(srcNames)
	if got, want := fmt.Sprint(srcNames), "[common/c.mlp lib/a.mlp lib/b.mlp main.mlp]"; got != want {
		t.Errorf("sources = %s, want %s", got, want)
	}
	if m.reads["common/unused.mlp"] != 0 {
		t.Errorf("read a file nothing imports")
	}
}

func TestLoadDiamondReadOnce(t *testing.T) {
	m := newMemFS(map[string]string{
		"main.mlp":   "mlpipe 1\nimport \"left.mlp\"\nimport \"right.mlp\"\n",
		"left.mlp":   "mlpipe 1\nimport \"shared.mlp\"\n",
		"right.mlp":  "mlpipe 1\nimport \"./shared.mlp\"\n",
		"shared.mlp": "mlpipe 1\ns = 1\n",
	})
	prog, _, err := m.load("main.mlp")
	if err != nil {
		t.Fatal(err)
	}
	for name, n := range m.reads {
		if n != 1 {
			t.Errorf("%s read %d times, want once", name, n)
		}
	}
	if got, want := strings.Join(fileNames(prog), " "), "shared.mlp left.mlp right.mlp main.mlp"; got != want {
		t.Errorf("Files = %s, want %s", got, want)
	}
}

// loadErr loads main.mlp from files and returns the error text, failing the
// test if there is none.
func loadErr(t *testing.T, files map[string]string, main string) (string, lang.Diagnostics) {
	t.Helper()
	_, _, err := newMemFS(files).load(main)
	if err == nil {
		t.Fatalf("Load(%s) succeeded, want an error", main)
	}
	return err.Error(), lang.DiagnosticsOf(err)
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		main  string
		want  string
	}{
		{
			name: "cycle",
			files: map[string]string{
				"a.mlp": "mlpipe 1\nimport \"b.mlp\"\n",
				"b.mlp": "mlpipe 1\nimport \"a.mlp\"\n",
			},
			main: "a.mlp",
			want: "b.mlp:2:8: import cycle: a.mlp -> b.mlp -> a.mlp",
		},
		{
			name: "cycle of three in a directory",
			files: map[string]string{
				"p/a.mlp": "mlpipe 1\nimport \"b.mlp\"\n",
				"p/b.mlp": "mlpipe 1\n\nimport \"c.mlp\"\n",
				"p/c.mlp": "mlpipe 1\nimport   \"b.mlp\"\n",
			},
			main: "p/a.mlp",
			want: "p/c.mlp:2:10: import cycle: p/b.mlp -> p/c.mlp -> p/b.mlp",
		},
		{
			name:  "self import",
			files: map[string]string{"a.mlp": "mlpipe 1\nx = 1\nimport \"a.mlp\"\n"},
			main:  "a.mlp",
			want:  "a.mlp:3:8: import cycle: a.mlp -> a.mlp",
		},
		{
			name:  "missing file",
			files: map[string]string{"main.mlp": "mlpipe 1\nimport \"x.mlp\"\n"},
			main:  "main.mlp",
			want:  `main.mlp:2:8: cannot import "x.mlp": file not found`,
		},
		{
			name: "missing file in an imported file",
			files: map[string]string{
				"main.mlp":  "mlpipe 1\nimport \"lib/a.mlp\"\n",
				"lib/a.mlp": "mlpipe 1\n# comment\n  import \"gone.mlp\" # gone\n",
			},
			main: "main.mlp",
			want: `lib/a.mlp:3:10: cannot import "gone.mlp": file not found`,
		},
		{
			name:  "absolute path",
			files: map[string]string{"main.mlp": "mlpipe 1\nimport \"/etc/common.mlp\"\n"},
			main:  "main.mlp",
			want:  "main.mlp:2:8: import path must be a relative file name",
		},
		{
			name:  "empty path",
			files: map[string]string{"main.mlp": "mlpipe 1\nimport \"\"\n"},
			main:  "main.mlp",
			want:  "main.mlp:2:8: import path must be a relative file name",
		},
		{
			name:  "missing main file",
			files: map[string]string{},
			main:  "nope.mlp",
			want:  "nope.mlp: cannot read nope.mlp: file not found",
		},
		{
			name: "syntax error in an imported file",
			files: map[string]string{
				"main.mlp": "mlpipe 1\nimport \"lib.mlp\"\nx = 1\n",
				"lib.mlp":  "mlpipe 1\ny = (\n",
			},
			main: "main.mlp",
			want: "lib.mlp:3:1: syntax error: unexpected end of file (expected an expression)",
		},
		{
			name: "newer version in an imported file",
			files: map[string]string{
				"main.mlp": "mlpipe 1\nimport \"lib.mlp\"\n",
				"lib.mlp":  "mlpipe 2\n",
			},
			main: "main.mlp",
			want: "lib.mlp:1:1: this file is written for mlpipe language version 2, but this mlpipe reads version 1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, diags := loadErr(t, tc.files, tc.main)
			if got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
			if len(diags) != 1 {
				t.Errorf("%d diagnostics, want 1", len(diags))
			}
		})
	}
}

// TestLoadErrorSpan checks that a missing import is reported on exactly the
// quoted path.
func TestLoadErrorSpan(t *testing.T) {
	src := "mlpipe 1\nimport \"x.mlp\" # the data\n"
	_, diags := loadErr(t, map[string]string{"main.mlp": src}, "main.mlp")
	if len(diags) != 1 {
		t.Fatalf("%d diagnostics, want 1", len(diags))
	}
	if got := text(src, diags[0].Span); got != `"x.mlp"` {
		t.Errorf("span covers %q, want the quoted path", got)
	}
}

// TestLoadCollectsAllErrors checks that problems in several files are all
// reported at once, and that the program is still returned.
func TestLoadCollectsAllErrors(t *testing.T) {
	m := newMemFS(map[string]string{
		"main.mlp": "mlpipe 1\nimport \"a.mlp\"\nimport \"missing.mlp\"\nimport \"b.mlp\"\n",
		"a.mlp":    "mlpipe 1\nx = @\n",
		"b.mlp":    "y = 1\n",
	})
	prog, sources, err := m.load("main.mlp")
	want := strings.Join([]string{
		"a.mlp:2:5: syntax error: unexpected character \"@\"",
		"b.mlp:1:1: missing language header",
		"main.mlp:3:8: cannot import \"missing.mlp\": file not found",
	}, "\n")
	if err == nil || err.Error() != want {
		t.Errorf("error:\n got %v\nwant %s", err, want)
	}
	if prog == nil || prog.Main == nil || len(prog.Files) != 3 {
		t.Errorf("want the main file and the two readable imports, got %+v", prog)
	}
	if len(sources) != 3 {
		t.Errorf("%d sources, want 3", len(sources))
	}
}

// TestLoadReadError checks that an error other than "not found" is passed
// on in the message.
func TestLoadReadError(t *testing.T) {
	ld := parser.Loader{ReadFile: func(name string) ([]byte, error) {
		if name == "main.mlp" {
			return []byte("mlpipe 1\nimport \"locked.mlp\"\n"), nil
		}
		return nil, errors.New("permission denied")
	}}
	_, _, err := ld.Load("main.mlp")
	if want := `main.mlp:2:8: cannot import "locked.mlp": permission denied`; err == nil || err.Error() != want {
		t.Errorf("error %v, want %s", err, want)
	}
}

// TestLoadDefaultReadFile loads real files with a nil ReadFile.
func TestLoadDefaultReadFile(t *testing.T) {
	prog, _, err := parser.Loader{}.Load(filepath.Join("testdata", "load", "main.mlp"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(fileNames(prog), " "), "testdata/load/common.mlp testdata/load/main.mlp"; got != want {
		t.Errorf("Files = %s, want %s", got, want)
	}
}
