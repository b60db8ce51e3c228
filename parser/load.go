package parser

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
)

// Loader reads a main .mlp file and every file it imports.
type Loader struct {
	// ReadFile reads a file; nil means os.ReadFile.
	ReadFile func(name string) ([]byte, error)
}

// Load reads and parses the file at path and, transitively, the files it
// imports (paths relative to the importing file). It returns the program,
// the sources read (for printing diagnostics) and an error carrying every
// diagnostic: syntax errors, missing files and import cycles. A file
// imported along two paths is read once.
func (ld Loader) Load(path string) (*lang.Program, lang.Sources, error) {
	read := ld.ReadFile
	if read == nil {
		read = os.ReadFile
	}
	st := &loadState{read: read, sources: lang.Sources{}, done: map[string]*lang.File{}}
	main := st.load(filepath.Clean(path), nil, lang.Span{})
	prog := &lang.Program{Main: main, Files: st.order}
	return prog, st.sources, st.diags.Err()
}

type loadState struct {
	read    func(string) ([]byte, error)
	sources lang.Sources
	done    map[string]*lang.File
	order   []*lang.File
	stack   []string
	diags   lang.Diagnostics
}

func (st *loadState) load(path string, importedAt *lang.ImportStmt, at lang.Span) *lang.File {
	if f, ok := st.done[path]; ok {
		return f
	}
	for i, p := range st.stack {
		if p == path {
			cycle := append(append([]string(nil), st.stack[i:]...), path)
			st.diags.Errorf(at, "import cycle: %s", strings.Join(cycle, " -> "))
			return nil
		}
	}
	src, err := st.read(path)
	if err != nil {
		msg := err.Error()
		if errors.Is(err, fs.ErrNotExist) {
			msg = "file not found"
		}
		if importedAt != nil {
			st.diags.Errorf(importedAt.PathSpan, "cannot import %q: %s", importedAt.Path, msg)
		} else {
			st.diags.Errorf(lang.Span{File: path}, "cannot read %s: %s", path, msg)
		}
		return nil
	}
	st.sources[path] = src
	f, err := Parse(path, src)
	st.diags = append(st.diags, lang.DiagnosticsOf(err)...)
	st.stack = append(st.stack, path)
	for _, s := range f.Stmts {
		imp, ok := s.(*lang.ImportStmt)
		if !ok {
			continue
		}
		if imp.Path == "" || filepath.IsAbs(imp.Path) {
			st.diags.Errorf(imp.PathSpan, "import path must be a relative file name")
			continue
		}
		st.load(filepath.Join(filepath.Dir(path), filepath.FromSlash(imp.Path)), imp, imp.PathSpan)
	}
	st.stack = st.stack[:len(st.stack)-1]
	st.done[path] = f
	st.order = append(st.order, f)
	return f
}
