package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
)

// rawFile returns a file made of the length of header, header (not
// padded) and data, for tests that build files the writer would not.
func rawFile(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

// mustWrite returns the bytes Write writes for tensors and metadata.
func mustWrite(t testing.TB, tensors []Tensor, metadata map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, tensors, metadata); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

// allTensors returns every tensor of f, in file order.
func allTensors(t testing.TB, f *File) []Tensor {
	t.Helper()
	tensors := make([]Tensor, len(f.Tensors))
	for i, info := range f.Tensors {
		tensor, err := f.Tensor(info.Name)
		if err != nil {
			t.Fatalf("Tensor(%q) of a parsed file: %v", info.Name, err)
		}
		tensors[i] = tensor
	}
	return tensors
}

// sameTensors reports how got and want differ as sets of tensors (by
// name), or "" if they hold the same tensors.
func sameTensors(got, want []Tensor) string {
	byName := func(ts []Tensor) []Tensor {
		sorted := slices.Clone(ts)
		slices.SortFunc(sorted, func(a, b Tensor) int { return strings.Compare(a.Name, b.Name) })
		return sorted
	}
	g, w := byName(got), byName(want)
	if len(g) != len(w) {
		return "different numbers of tensors"
	}
	for i := range g {
		switch {
		case g[i].Name != w[i].Name:
			return "tensor " + g[i].Name + " instead of " + w[i].Name
		case g[i].DType != w[i].DType:
			return w[i].Name + ": different dtype"
		case !slices.Equal(g[i].Shape, w[i].Shape):
			return w[i].Name + ": different shape"
		case !bytes.Equal(g[i].Data, w[i].Data):
			return w[i].Name + ": different data"
		}
	}
	return ""
}

// sameMetadata reports whether a and b hold the same entries; nil and
// empty are the same.
func sameMetadata(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// wantInvalid fails t unless err wraps ErrInvalid and its message holds
// every one of parts.
func wantInvalid(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", parts)
	}
	if !errors.Is(err, ErrInvalid) {
		t.Errorf("error %q does not wrap ErrInvalid", err)
	}
	for _, part := range parts {
		if !strings.Contains(err.Error(), part) {
			t.Errorf("error %q does not contain %q", err, part)
		}
	}
}
