package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// invalidf returns an error with the formatted message that wraps
// ErrInvalid (and whatever errors args wrap with %w in format).
func invalidf(format string, args ...any) error {
	return fmt.Errorf(format+": %w", append(args, ErrInvalid)...)
}

// headerParser parses a header's JSON one token at a time, so that it sees
// duplicate keys (which encoding/json's Unmarshal silently merges) and
// never builds a value it does not expect.
type headerParser struct {
	dec *json.Decoder
}

// parseHeader parses a header into its metadata and its tensors in header
// order. It checks the header's structure, not the tensors' offsets.
func parseHeader(header []byte) (map[string]string, []Info, error) {
	if !utf8.Valid(header) {
		return nil, nil, invalidf("header is not valid UTF-8")
	}
	if len(header) == 0 || header[0] != '{' {
		return nil, nil, invalidf("header does not start with '{'")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	p := headerParser{dec: dec}
	if err := p.delim('{', "header"); err != nil {
		return nil, nil, err
	}
	var metadata map[string]string
	var infos []Info
	for dec.More() {
		key, err := p.key()
		if err != nil {
			return nil, nil, err
		}
		if key == metadataKey {
			if metadata != nil {
				return nil, nil, invalidf("duplicate key %q", metadataKey)
			}
			if metadata, err = p.metadata(); err != nil {
				return nil, nil, err
			}
			continue
		}
		info, err := p.tensor(key)
		if err != nil {
			return nil, nil, fmt.Errorf("tensor %q: %w", key, err)
		}
		infos = append(infos, info)
	}
	if err := p.delim('}', "header"); err != nil {
		return nil, nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, invalidf("header has more than one JSON value")
	}
	return metadata, infos, nil
}

// token returns the next token, with a syntax error wrapping ErrInvalid.
func (p *headerParser) token() (json.Token, error) {
	tok, err := p.dec.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, invalidf("header is not valid JSON: %w", err)
	}
	return tok, nil
}

// delim consumes the delimiter want, which opens or closes what.
func (p *headerParser) delim(want json.Delim, what string) error {
	tok, err := p.token()
	if err != nil {
		return err
	}
	if tok != want {
		kind := "object"
		if want == '[' || want == ']' {
			kind = "array"
		}
		return invalidf("%s is not a JSON %s", what, kind)
	}
	return nil
}

// key returns the next object key.
func (p *headerParser) key() (string, error) {
	tok, err := p.token()
	if err != nil {
		return "", err
	}
	key, ok := tok.(string)
	if !ok {
		return "", invalidf("header is not valid JSON: object key is not a string")
	}
	return key, nil
}

// str returns the next value, which must be a string, what.
func (p *headerParser) str(what string) (string, error) {
	tok, err := p.token()
	if err != nil {
		return "", err
	}
	s, ok := tok.(string)
	if !ok {
		return "", invalidf("%s is not a string", what)
	}
	return s, nil
}

// integer returns the next value, which must be an integer in the range of
// an int64, what.
func (p *headerParser) integer(what string) (int64, error) {
	tok, err := p.token()
	if err != nil {
		return 0, err
	}
	num, ok := tok.(json.Number)
	if !ok {
		return 0, invalidf("%s is not a number", what)
	}
	v, err := strconv.ParseInt(string(num), 10, 64)
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, strconv.ErrRange):
		return 0, invalidf("%s %s is out of range", what, num)
	case strings.HasPrefix(string(num), "-"):
		return 0, invalidf("%s %s is negative", what, num)
	default:
		return 0, invalidf("%s %s is not an integer", what, num)
	}
}

// metadata parses the "__metadata__" object: strings to strings.
func (p *headerParser) metadata() (map[string]string, error) {
	if err := p.delim('{', metadataKey); err != nil {
		return nil, err
	}
	metadata := make(map[string]string)
	for p.dec.More() {
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		if _, dup := metadata[key]; dup {
			return nil, invalidf("%s: duplicate key %q", metadataKey, key)
		}
		value, err := p.str(fmt.Sprintf("%s: value of %q", metadataKey, key))
		if err != nil {
			return nil, err
		}
		metadata[key] = value
	}
	return metadata, p.delim('}', metadataKey)
}

// tensor parses the header entry of the tensor called name.
func (p *headerParser) tensor(name string) (Info, error) {
	if name == "" {
		return Info{}, invalidf("empty tensor name")
	}
	if err := p.delim('{', "entry"); err != nil {
		return Info{}, err
	}
	info := Info{Name: name}
	seen := make(map[string]bool, 3)
	for p.dec.More() {
		field, err := p.key()
		if err != nil {
			return Info{}, err
		}
		if seen[field] {
			return Info{}, invalidf("duplicate field %q", field)
		}
		seen[field] = true
		if err := p.field(&info, field); err != nil {
			return Info{}, err
		}
	}
	if err := p.delim('}', "entry"); err != nil {
		return Info{}, err
	}
	for _, field := range []string{"dtype", "shape", "data_offsets"} {
		if !seen[field] {
			return Info{}, invalidf("missing field %q", field)
		}
	}
	return info, nil
}

// field parses the value of one field of a tensor's entry into info.
func (p *headerParser) field(info *Info, field string) error {
	var err error
	switch field {
	case "dtype":
		info.DType, err = p.dtype()
	case "shape":
		info.Shape, err = p.shape()
	case "data_offsets":
		info.Offsets, err = p.offsets()
	default:
		err = invalidf("unknown field %q", field)
	}
	return err
}

// dtype parses a known dtype.
func (p *headerParser) dtype() (DType, error) {
	s, err := p.str("dtype")
	if err != nil {
		return "", err
	}
	d := DType(s)
	if !d.Valid() {
		return "", invalidf("unknown dtype %q", s)
	}
	return d, nil
}

// shape parses an array of at most MaxRank non-negative dimensions.
func (p *headerParser) shape() ([]int, error) {
	if err := p.delim('[', "shape"); err != nil {
		return nil, err
	}
	shape := []int{}
	for p.dec.More() {
		if len(shape) == MaxRank {
			return nil, invalidf("shape has more than %d dimensions", MaxRank)
		}
		d, err := p.integer("dimension")
		if err != nil {
			return nil, err
		}
		if d < 0 {
			return nil, invalidf("negative dimension %d in shape", d)
		}
		if d > math.MaxInt {
			return nil, invalidf("dimension %d is out of range", d)
		}
		shape = append(shape, int(d))
	}
	return shape, p.delim(']', "shape")
}

// offsets parses data_offsets: an array of two non-negative integers.
func (p *headerParser) offsets() ([2]int64, error) {
	var offsets [2]int64
	if err := p.delim('[', "data_offsets"); err != nil {
		return offsets, err
	}
	n := 0
	for ; p.dec.More(); n++ {
		if n == len(offsets) {
			return offsets, invalidf("data_offsets has more than 2 values")
		}
		v, err := p.integer("data offset")
		if err != nil {
			return offsets, err
		}
		if v < 0 {
			return offsets, invalidf("negative data offset %d", v)
		}
		offsets[n] = v
	}
	if n != len(offsets) {
		return offsets, invalidf("data_offsets has %d values, want 2", n)
	}
	return offsets, p.delim(']', "data_offsets")
}
