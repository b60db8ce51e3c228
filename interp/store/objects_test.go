package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestObjectsRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, dir := openTemp(t)
	content := bytes.Repeat([]byte("weights "), 10000)
	d, size, err := s.PutObject(ctx, bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if d != DigestOf(content) || size != int64(len(content)) || !d.Valid() {
		t.Errorf("PutObject = %s, %d", d, size)
	}
	h := d.Hex()
	if want := filepath.Join(dir, ObjectsDir, h[:2], h[2:]); s.ObjectPath(d) != want {
		t.Errorf("ObjectPath = %s, want %s", s.ObjectPath(d), want)
	}
	if again := mustPut(t, s, string(content)); again != d {
		t.Errorf("storing again gave %s", again)
	}
	got, err := s.ReadObject(ctx, d)
	if err != nil || !bytes.Equal(got, content) {
		t.Errorf("ReadObject: %d bytes, %v", len(got), err)
	}
	rc, err := s.OpenObject(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	streamed, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(streamed, content) {
		t.Errorf("OpenObject: %d bytes, %v", len(streamed), err)
	}
	if s.ObjectPath("sha256:xyz") != "" {
		t.Error("ObjectPath of a malformed digest is not empty")
	}
	if _, err := s.ReadObject(ctx, "md5:abc"); err == nil {
		t.Error("ReadObject accepted a malformed digest")
	}
	temps, _ := filepath.Glob(filepath.Join(dir, ObjectsDir, tempPrefix+"*"))
	if len(temps) != 0 {
		t.Errorf("temporary files left: %v", temps)
	}
}

// damages are the ways an object can be spoiled on disk.
var damages = []struct {
	name   string
	damage func(path string) error
}{
	{"bytes flipped", func(path string) error {
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		data[len(data)/2] ^= 0xff
		return os.WriteFile(path, data, 0o644)
	}},
	{"truncated", func(path string) error { return os.Truncate(path, 5) }},
	{"emptied", func(path string) error { return os.Truncate(path, 0) }},
	{"missing", os.Remove},
}

// readers are the ways to read an object.
var readers = []struct {
	name string
	read func(s *Store, d Digest, key string) error
}{
	{"ReadObject", func(s *Store, d Digest, _ string) error {
		_, err := s.ReadObject(context.Background(), d)
		return err
	}},
	{"OpenObject", func(s *Store, d Digest, _ string) error {
		rc, err := s.OpenObject(context.Background(), d)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.ReadAll(rc)
		return err
	}},
	{"CacheGet", func(s *Store, _ Digest, key string) error {
		_, err := s.CacheGet(context.Background(), key)
		return err
	}},
}

func TestDamagedObjectsAreReported(t *testing.T) {
	ctx := context.Background()
	for _, dm := range damages {
		for _, rd := range readers {
			t.Run(dm.name+"/"+rd.name, func(t *testing.T) {
				s, _ := openTemp(t)
				content := "stage output " + strings.Repeat("x", 100)
				d := mustPut(t, s, content)
				if err := s.CachePut(ctx, CacheEntry{Key: "k", Stage: "fit", Digest: d, Size: int64(len(content))}); err != nil {
					t.Fatal(err)
				}
				if err := dm.damage(s.ObjectPath(d)); err != nil {
					t.Fatal(err)
				}
				err := rd.read(s, d, "k")
				if !errors.Is(err, ErrCorrupt) {
					t.Fatalf("error %v, want ErrCorrupt", err)
				}
				if !strings.Contains(err.Error(), string(d)) {
					t.Errorf("error %q does not name the object", err)
				}
				if dm.name == "missing" && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("error %v for a missing object does not wrap fs.ErrNotExist", err)
				}
				// Storing the content again repairs the object.
				mustPut(t, s, content)
				if err := rd.read(s, d, "k"); err != nil {
					t.Errorf("after storing again: %v", err)
				}
			})
		}
	}
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	if _, err := s.CacheGet(ctx, "nothing"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CacheGet miss: %v, want ErrNotFound", err)
	}
	if _, err := s.CacheLast(ctx, "quickstart", "fit"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CacheLast with no entry: %v, want ErrNotFound", err)
	}
	if err := s.CachePut(ctx, CacheEntry{Key: "k0", Digest: DigestOf([]byte("absent"))}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("CachePut of a missing object: %v, want ErrCorrupt", err)
	}
	put := func(key, content string, ingredients map[string]string) CacheEntry {
		e := CacheEntry{Key: key, Experiment: "quickstart", Stage: "fit", Component: "train@3",
			Digest: mustPut(t, s, content), Size: int64(len(content)), Ingredients: ingredients, RunID: "run-" + key}
		if err := s.CachePut(ctx, e); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Millisecond)
		return e
	}
	e1 := put("k1", "out1", map[string]string{"lr": "0.1", "input.data": "sha256:aa"})
	first, err := s.CacheGet(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	put("k1", "out1", map[string]string{"lr": "0.1", "input.data": "sha256:aa"}) // idempotent
	again, err := s.CacheGet(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if !again.Created.Equal(first.Created) || !again.Used.After(first.Used) {
		t.Errorf("putting again: created %v -> %v, used %v -> %v", first.Created, again.Created, first.Used, again.Used)
	}
	again.Created, again.Used = time.Time{}, time.Time{}
	if !reflect.DeepEqual(*again, e1) {
		t.Errorf("CacheGet = %+v, want %+v", *again, e1)
	}
	e2 := put("k2", "out2", map[string]string{"lr": "0.2", "input.data": "sha256:aa"})
	last, err := s.CacheLast(ctx, "quickstart", "fit")
	if err != nil || last.Key != e2.Key || last.Ingredients["lr"] != "0.2" {
		t.Errorf("CacheLast = %+v, %v; want k2", last, err)
	}
	if _, err := s.CacheGet(ctx, "k1"); err != nil { // a hit makes k1 the last one
		t.Fatal(err)
	}
	if last, _ := s.CacheLast(ctx, "quickstart", "fit"); last == nil || last.Key != "k1" {
		t.Errorf("CacheLast after a hit on k1 = %+v", last)
	}
	if _, err := s.CacheLast(ctx, "other", "fit"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CacheLast of another experiment: %v", err)
	}
	if err := s.CacheDelete(ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CacheGet(ctx, "k1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CacheGet after CacheDelete: %v", err)
	}
	if n, err := s.CacheClear(ctx); err != nil || n != 1 {
		t.Errorf("CacheClear = %d, %v; want 1", n, err)
	}
	if _, err := s.CacheGet(ctx, "k2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("CacheGet after CacheClear: %v", err)
	}
}

func TestGC(t *testing.T) {
	ctx := context.Background()
	s, dir := openTemp(t)
	r := mustBegin(t, s, sampleRun("e"))
	if err := s.AddSource(ctx, r.ID, "p.mlp", []byte("source")); err != nil {
		t.Fatal(err)
	}
	artifact := mustPut(t, s, "artifact")
	if err := s.AddArtifact(ctx, r.ID, Artifact{Stage: "fit", Name: "model", Digest: artifact, Size: 8}); err != nil {
		t.Fatal(err)
	}
	cached := mustPut(t, s, "cached output")
	if err := s.CachePut(ctx, CacheEntry{Key: "k", Stage: "fit", Digest: cached}); err != nil {
		t.Fatal(err)
	}
	garbage := mustPut(t, s, "garbage!")
	objects := filepath.Join(dir, ObjectsDir)
	oldTemp, newTemp := filepath.Join(objects, tempPrefix+"old"), filepath.Join(objects, tempPrefix+"new")
	os.WriteFile(oldTemp, []byte("half written"), 0o644)
	os.WriteFile(newTemp, []byte("being written"), 0o644)
	twoHoursAgo := time.Now().Add(-2 * time.Hour)
	os.Chtimes(oldTemp, twoHoursAgo, twoHoursAgo)

	// While the Store that wrote it is open, the garbage object is kept:
	// its writer may be about to refer to it.
	stats, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Objects != 0 || stats.TempFiles != 1 {
		t.Errorf("GC with the writer open = %+v, want only the old temp file", stats)
	}
	s.Close()

	s2, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	stats, err = s2.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := (GCStats{Objects: 1, Bytes: 8}); stats != want {
		t.Errorf("GC = %+v, want %+v", stats, want)
	}
	exists := func(path string) bool { _, err := os.Stat(path); return err == nil }
	for d, want := range map[Digest]bool{DigestOf([]byte("source")): true, artifact: true, cached: true, garbage: false} {
		if got := exists(s2.ObjectPath(d)); got != want {
			t.Errorf("object %s exists = %v, want %v", d, got, want)
		}
	}
	if exists(oldTemp) || !exists(newTemp) {
		t.Errorf("old temp exists %v (want false), new temp exists %v (want true)", exists(oldTemp), exists(newTemp))
	}

	// Clearing the cache frees its object, not the run's.
	if _, err := s2.CacheClear(ctx); err != nil {
		t.Fatal(err)
	}
	stats, err = s2.GC(ctx)
	if err != nil || stats.Objects != 1 || exists(s2.ObjectPath(cached)) || !exists(s2.ObjectPath(artifact)) {
		t.Errorf("GC after CacheClear = %+v, %v", stats, err)
	}
}

func TestGCKeepsObjectsOfDeadWritersOnlyUntilGC(t *testing.T) {
	ctx := context.Background()
	s, dir := openTemp(t)
	d := mustPut(t, s, "pinned by a dead process")
	// Pretend the pin belongs to a process that died without Close.
	if _, err := s.db.ExecContext(ctx, `UPDATE object_pins SET session = 'dead', pid = ?`, 1<<30); err != nil {
		t.Fatal(err)
	}
	other, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	stats, err := other.GC(ctx)
	if err != nil || stats.Objects != 1 {
		t.Errorf("GC = %+v, %v; want the dead writer's object removed", stats, err)
	}
	if _, err := os.Stat(s.ObjectPath(d)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("object still there: %v", err)
	}
}
