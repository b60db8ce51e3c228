package datasets

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
)

// DefaultMaxBytes is the data size limit used when Limits.MaxBytes (or
// CSVOptions.MaxBytes) is 0: 2 GiB.
const DefaultMaxBytes int64 = 1 << 31

// Limits bounds what a reader accepts from one file. The zero value means
// the defaults.
type Limits struct {
	// MaxBytes is the largest amount of data accepted from one file, in
	// bytes after decompression: for IDX the data section the header
	// promises (count*rows*cols), checked before anything is read or
	// allocated for it. 0 or less means DefaultMaxBytes.
	MaxBytes int64
}

func (l Limits) maxBytes() int64 {
	if l.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return l.MaxBytes
}

// gzipMagic starts every gzip stream (RFC 1952). Neither an IDX file
// (which starts with two zero bytes) nor a text file starts with it.
var gzipMagic = [2]byte{0x1f, 0x8b}

// decompress returns a reader of r's content, transparently decompressing
// it if it starts with the gzip magic. Errors name the file.
func decompress(r io.Reader, name string) (io.Reader, error) {
	br := bufio.NewReader(r)
	head, err := br.Peek(2)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(head) == 2 && head[0] == gzipMagic[0] && head[1] == gzipMagic[1] {
		zr, err := gzip.NewReader(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%s: truncated gzip header: %w", name, io.ErrUnexpectedEOF)
			}
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return zr, nil
	}
	return br, nil
}

// isTruncation reports whether err means the input ended too early: io.EOF
// from a plain file, io.ErrUnexpectedEOF from io.ReadFull or from a cut
// gzip stream.
func isTruncation(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// readChunk is the first buffer size of readExactly; the buffer doubles
// from there, so memory follows the data actually present.
const readChunk = 4 << 10

// readExactly reads exactly want bytes from r, then checks that r has
// nothing after them. The buffer grows as data arrives, so a header that
// promises more than the file holds costs at most about twice the bytes
// present. Errors name the file.
func readExactly(r io.Reader, want int64, name string) ([]byte, error) {
	buf := make([]byte, 0, min(want, readChunk))
	for int64(len(buf)) < want {
		if len(buf) == cap(buf) {
			nb := make([]byte, len(buf), min(want, 2*int64(cap(buf))))
			copy(nb, buf)
			buf = nb
		}
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err != nil {
			if isTruncation(err) {
				return nil, fmt.Errorf("%s: truncated: header says %d bytes of data, file has %d: %w",
					name, want, len(buf), io.ErrUnexpectedEOF)
			}
			return nil, fmt.Errorf("%s: reading data at byte %d of %d: %w", name, len(buf), want, err)
		}
	}
	if err := expectEOF(r, name, want); err != nil {
		return nil, err
	}
	return buf, nil
}

// maxTrailing bounds how many bytes past the data expectEOF reads (and
// counts) before giving up, so a gzip bomb appended to a file costs little.
const maxTrailing = 1 << 20

// expectEOF reports an error if r holds anything more, or fails (e.g. a gzip
// checksum mismatch, detected at the end of the stream).
func expectEOF(r io.Reader, name string, data int64) error {
	extra, err := io.Copy(io.Discard, io.LimitReader(r, maxTrailing))
	if isTruncation(err) {
		return fmt.Errorf("%s: truncated gzip stream after the %d bytes of data: %w", name, data, err)
	}
	if err != nil {
		return fmt.Errorf("%s: after the %d bytes of data: %w", name, data, err)
	}
	if extra >= maxTrailing {
		return fmt.Errorf("%s: trailing garbage: at least %d bytes after the %d bytes of data the header promises", name, extra, data)
	}
	if extra > 0 {
		return fmt.Errorf("%s: trailing garbage: %d bytes after the %d bytes of data the header promises", name, extra, data)
	}
	return nil
}
