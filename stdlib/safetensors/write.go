package safetensors

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"unicode/utf8"
)

// metadataKey is the header key of the file's metadata; no tensor may be
// named so.
const metadataKey = "__metadata__"

// headerAlignment is the multiple of bytes the writer pads the 8-byte
// prefix plus the header to, so that the buffer starts aligned.
const headerAlignment = 8

// placedTensor is a tensor with the offsets of its data in the buffer.
type placedTensor struct {
	tensor     *Tensor
	begin, end int64
}

// Write writes tensors and metadata (which may be nil) to w as a
// safetensors file. The same tensors and metadata give the same bytes,
// whatever their order in tensors (see the package documentation for the
// layout). It rejects empty, duplicate or invalid UTF-8 names, the name
// "__metadata__", unknown dtypes, negative dimensions, shapes of more than
// MaxRank dimensions, data whose length is not the shape's element count
// times the dtype's size, invalid UTF-8 metadata, and headers longer than
// MaxHeaderSize; it writes nothing then.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	placed, err := layOut(tensors)
	if err != nil {
		return err
	}
	header, err := encodeHeader(placed, metadata)
	if err != nil {
		return err
	}
	if err := writePlaced(w, header, placed); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// WriteFile writes tensors and metadata to the file at path as Write does,
// atomically: it writes a temporary file in the same directory, syncs it to
// disk, and renames it to path, so that path holds either its old content
// or the whole new file, never a part. On error it removes the temporary
// file and leaves path as it was. The file gets permissions 0644.
func WriteFile(path string, tensors []Tensor, metadata map[string]string) (err error) {
	placed, err := layOut(tensors)
	if err != nil {
		return err
	}
	header, err := encodeHeader(placed, metadata)
	if err != nil {
		return err
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := writePlaced(tmp, header, placed); err != nil {
		return fmt.Errorf("safetensors: writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return syncDir(dir)
}

// writePlaced writes the encoded header and then the tensors' data.
func writePlaced(w io.Writer, header []byte, placed []placedTensor) error {
	if _, err := w.Write(header); err != nil {
		return err
	}
	for _, p := range placed {
		if _, err := w.Write(p.tensor.Data); err != nil {
			return err
		}
	}
	return nil
}

// syncDir syncs the directory dir so that a rename in it is durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("safetensors: syncing directory %s: %w", dir, err)
	}
	return nil
}

// layOut checks tensors and returns them in file order (by decreasing
// element size, then by name) with their offsets.
func layOut(tensors []Tensor) ([]placedTensor, error) {
	seen := make(map[string]bool, len(tensors))
	placed := make([]placedTensor, len(tensors))
	for i := range tensors {
		t := &tensors[i]
		if err := checkTensor(t); err != nil {
			return nil, err
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("safetensors: duplicate tensor name %q", t.Name)
		}
		seen[t.Name] = true
		placed[i].tensor = t
	}
	slices.SortFunc(placed, func(a, b placedTensor) int {
		return cmp.Or(
			cmp.Compare(b.tensor.DType.Size(), a.tensor.DType.Size()),
			cmp.Compare(a.tensor.Name, b.tensor.Name))
	})
	var offset int64
	for i := range placed {
		placed[i].begin = offset
		offset += int64(len(placed[i].tensor.Data))
		placed[i].end = offset
	}
	return placed, nil
}

// checkTensor reports whether t can be written.
func checkTensor(t *Tensor) error {
	switch {
	case t.Name == "":
		return errors.New("safetensors: empty tensor name")
	case !utf8.ValidString(t.Name):
		return fmt.Errorf("safetensors: tensor name %q is not valid UTF-8", t.Name)
	case t.Name == metadataKey:
		return fmt.Errorf("safetensors: a tensor may not be named %q", metadataKey)
	case !t.DType.Valid():
		return fmt.Errorf("safetensors: tensor %q: unknown dtype %q", t.Name, t.DType)
	case len(t.Shape) > MaxRank:
		return fmt.Errorf("safetensors: tensor %q: shape has %d dimensions, more than %d", t.Name, len(t.Shape), MaxRank)
	case slices.ContainsFunc(t.Shape, func(d int) bool { return d < 0 }):
		return fmt.Errorf("safetensors: tensor %q: negative dimension in shape %v", t.Name, t.Shape)
	}
	size, ok := byteSize(t.Shape, t.DType.Size())
	if !ok {
		return fmt.Errorf("safetensors: tensor %q: shape %v is too large", t.Name, t.Shape)
	}
	if int64(len(t.Data)) != size {
		return fmt.Errorf("safetensors: tensor %q: has %d bytes of data, shape %v of %s needs %d",
			t.Name, len(t.Data), t.Shape, t.DType, size)
	}
	return nil
}

// encodeHeader returns the 8-byte length prefix followed by the JSON
// header, its keys sorted, padded with spaces to a multiple of 8 bytes.
func encodeHeader(placed []placedTensor, metadata map[string]string) ([]byte, error) {
	entries := make(map[string][]byte, len(placed)+1)
	for _, p := range placed {
		entries[p.tensor.Name] = encodeEntry(p)
	}
	if len(metadata) > 0 {
		m, err := encodeMetadata(metadata)
		if err != nil {
			return nil, err
		}
		entries[metadataKey] = m
	}
	buf := make([]byte, 8, 64)
	buf = append(buf, '{')
	for i, key := range slices.Sorted(maps.Keys(entries)) {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = appendJSONString(buf, key)
		buf = append(buf, ':')
		buf = append(buf, entries[key]...)
	}
	buf = append(buf, '}')
	for len(buf)%headerAlignment != 0 {
		buf = append(buf, ' ')
	}
	n := len(buf) - 8
	if n > MaxHeaderSize {
		return nil, fmt.Errorf("safetensors: header would be %d bytes, more than the limit of %d", n, MaxHeaderSize)
	}
	binary.LittleEndian.PutUint64(buf, uint64(n))
	return buf, nil
}

// encodeEntry returns the JSON header entry of a placed tensor.
func encodeEntry(p placedTensor) []byte {
	b := []byte(`{"dtype":`)
	b = appendJSONString(b, string(p.tensor.DType))
	b = append(b, `,"shape":[`...)
	for i, d := range p.tensor.Shape {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(d), 10)
	}
	b = append(b, `],"data_offsets":[`...)
	b = strconv.AppendInt(b, p.begin, 10)
	b = append(b, ',')
	b = strconv.AppendInt(b, p.end, 10)
	return append(b, "]}"...)
}

// encodeMetadata returns metadata as a JSON object with sorted keys.
func encodeMetadata(metadata map[string]string) ([]byte, error) {
	b := []byte{'{'}
	for i, key := range slices.Sorted(maps.Keys(metadata)) {
		value := metadata[key]
		if !utf8.ValidString(key) || !utf8.ValidString(value) {
			return nil, fmt.Errorf("safetensors: metadata %q: key or value is not valid UTF-8", key)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, key)
		b = append(b, ':')
		b = appendJSONString(b, value)
	}
	return append(b, '}'), nil
}

// appendJSONString appends s, valid UTF-8, to b as a JSON string, escaping
// only what JSON requires: quotes, backslashes and control characters.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
