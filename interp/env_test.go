package interp_test

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
)

func TestDeriveSeed(t *testing.T) {
	// The documented definition: FNV-1a of "base/path", shifted to be
	// non-negative. Pinned so that a change to it (which would change
	// every run's results) is noticed.
	h := fnv.New64a()
	h.Write([]byte("7/fit"))
	if got, want := interp.DeriveSeed(7, "fit"), int64(h.Sum64()>>1); got != want {
		t.Errorf("DeriveSeed(7, fit) = %d, want %d", got, want)
	}
	for _, tc := range []struct {
		base int64
		path string
		want int64
	}{
		{0, "fit", 1657511398256824263},
		{7, "fit", 7482667466740509197},
		{7, "fit.loss", 6175113109282110549},
		{-1, "", 8010180853625525478},
	} {
		if got := interp.DeriveSeed(tc.base, tc.path); got != tc.want {
			t.Errorf("DeriveSeed(%d, %q) = %d, want %d", tc.base, tc.path, got, tc.want)
		}
	}
	seen := map[int64]string{}
	for _, base := range []int64{0, 1, 7, 1 << 40} {
		for _, path := range []string{"fit", "fit.loss", "fit.optimizer", "score", "z.after[0]", "z.after[1]", "p|0", "l+0", ""} {
			s := interp.DeriveSeed(base, path)
			if s < 0 {
				t.Errorf("DeriveSeed(%d, %q) = %d < 0", base, path, s)
			}
			if s != interp.DeriveSeed(base, path) {
				t.Errorf("DeriveSeed(%d, %q) is not stable", base, path)
			}
			key := fmt.Sprintf("%d/%s", base, path)
			if prev, dup := seen[s]; dup {
				t.Errorf("DeriveSeed collision: %s and %s", prev, key)
			}
			seen[s] = key
		}
	}
}

// listDir returns the names in dir, recursively, slash-separated.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestEnvWriteFile(t *testing.T) {
	dir := t.TempDir()
	w := newWorld()
	g, _ := compile(t, w, `mlpipe 1
a = write("report.json", data: "{}")
b = write("sub/dir/x.txt", data: "nested")
c = write("../escape.txt")
d = write("/etc/passwd")
e = write("")
f = write("sub/../y.txt", data: "clean")
`)
	if _, err := run(t, context.Background(), g, &interp.RunConfig{OutDir: dir, Parallel: 3}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"report.json":   filepath.Join(dir, "report.json"),
		"sub/dir/x.txt": filepath.Join(dir, "sub", "dir", "x.txt"),
		"sub/../y.txt":  filepath.Join(dir, "y.txt"),
		"../escape.txt": `error: output name "../escape.txt" leaves the output directory`,
		"/etc/passwd":   `error: output name "/etc/passwd" leaves the output directory`,
		"":              `error: output name "" leaves the output directory`,
	} {
		if got := w.writes[name]; got != want {
			t.Errorf("write(%q): %s, want %s", name, got, want)
		}
	}
	// Exactly the files asked for, and no temporary file left behind.
	if got, want := strings.Join(listDir(t, dir), " "), "report.json sub sub/dir sub/dir/x.txt y.txt"; got != want {
		t.Errorf("output directory holds %s, want %s", got, want)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.txt")); err == nil {
		t.Errorf("a file was written outside the output directory")
	}
	for name, want := range map[string]string{"report.json": "{}", "sub/dir/x.txt": "nested", "y.txt": "clean"} {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(name)))
		if err != nil || string(data) != want {
			t.Errorf("%s holds %q (%v), want %q", name, data, err, want)
		}
	}
	st, err := os.Stat(filepath.Join(dir, "report.json"))
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v (%v), want 0644", st.Mode(), err)
	}
}

func TestEnvWriteFileNoOutDir(t *testing.T) {
	w := newWorld()
	g, _ := compile(t, w, "mlpipe 1\na = write(\"x.txt\")\n")
	if _, err := run(t, context.Background(), g, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := w.writes["x.txt"], "error: this run has no output directory"; got != want {
		t.Errorf("%s, want %s", got, want)
	}
	var env interp.Env
	if _, err := env.WriteFile("x", nil); err == nil {
		t.Errorf("a zero Env wrote a file")
	}
}

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "new", "deeper", "out.txt")
	if err := interp.WriteFileAtomic(path, []byte("one")); err != nil {
		t.Fatal(err)
	}
	// Overwriting replaces the content whole.
	if err := interp.WriteFileAtomic(path, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(path); string(data) != "two" {
		t.Errorf("content %q, want two", data)
	}
	if got, want := strings.Join(listDir(t, dir), " "), "new new/deeper new/deeper/out.txt"; got != want {
		t.Errorf("directory holds %s, want %s", got, want)
	}
	// A failure (the target is a directory) leaves no temporary file.
	target := filepath.Join(dir, "new", "deeper")
	if err := interp.WriteFileAtomic(target, []byte("x")); err == nil {
		t.Errorf("writing over a directory succeeded")
	}
	if got, want := strings.Join(listDir(t, dir), " "), "new new/deeper new/deeper/out.txt"; got != want {
		t.Errorf("after a failed write the directory holds %s, want %s", got, want)
	}
}

// fakeProgress records what a stage reports.
type fakeProgress struct {
	mu    sync.Mutex
	lines []string
}

func (p *fakeProgress) Add(n int64, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, status)
}

func (p *fakeProgress) Finish() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, "finish")
}

type talkArgs struct {
	Msg string `mlp:"msg,positional" doc:"What to say." required:"true"`
}

func TestEnvOutput(t *testing.T) {
	var stdout, log bytes.Buffer
	prog := &fakeProgress{}
	var started []string
	r := interp.NewRegistry()
	interp.Register(r, interp.Def[talkArgs]{
		Name: "talk", Category: lang.KindReport, Doc: "Talks.", Result: lang.ObjectOf(lang.KindReport),
		Build: func(ctx context.Context, env *interp.Env, a *talkArgs) (interp.Value, error) {
			env.Stdout().Write([]byte(a.Msg + "\n"))
			env.Logf("said %s", a.Msg)
			p := env.Progress(2, "word")
			p.Add(1, "half")
			p.Finish()
			return &fakeValue{kind: lang.KindReport}, nil
		},
	})
	c := checkFake(t, r, "mlpipe 1\nhello = talk(\"hi\")\n")
	g, err := interp.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &interp.RunConfig{
		Stdout: &stdout,
		Log:    &log,
		Progress: func(stage string, total int64, unit string) interp.Progress {
			started = append(started, stage+" "+unit)
			return prog
		},
	}
	if _, err := run(t, context.Background(), g, cfg); err != nil {
		t.Fatal(err)
	}
	if stdout.String() != "hi\n" || log.String() != "hello: said hi\n" {
		t.Errorf("stdout %q, log %q", stdout.String(), log.String())
	}
	if strings.Join(started, ",") != "hello word" || strings.Join(prog.lines, ",") != "half,finish" {
		t.Errorf("progress %v %v", started, prog.lines)
	}
	// Without a config nothing is printed, and nothing fails.
	if _, err := run(t, context.Background(), g, nil); err != nil {
		t.Fatal(err)
	}
}

// TestEnvWriteFileClaims: two stages of one run cannot write the same output
// file; the second is refused and the first file is kept.
func TestEnvWriteFileClaims(t *testing.T) {
	dir := t.TempDir()
	w := newWorld()
	g, _ := compile(t, w, `mlpipe 1
a = write("same.json", data: "a")
b = write("same.json", data: "b")
`)
	if _, err := run(t, context.Background(), g, &interp.RunConfig{OutDir: dir, Parallel: 1}); err != nil {
		t.Fatal(err)
	}
	got := w.writes["same.json"]
	if !strings.HasPrefix(got, "error: output file same.json is already written by stage ") {
		t.Errorf("second write: %q, want a refusal", got)
	}
	data, err := os.ReadFile(filepath.Join(dir, "same.json"))
	if err != nil || (string(data) != "a" && string(data) != "b") {
		t.Errorf("same.json holds %q (%v)", data, err)
	}
}
