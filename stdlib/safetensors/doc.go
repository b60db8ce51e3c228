// Package safetensors reads and writes the safetensors file format of
// Hugging Face, the format PyTorch users exchange model weights in. A file
// written by Write holds a state dict that PyTorch's load_state_dict takes
// unchanged (after converting each stored tensor to a torch tensor), and
// Read, ReadFile and Parse load weights written by other tools.
//
// # Format
//
// A file is:
//
//   - 8 bytes: N, a little-endian uint64, the length of the header;
//   - N bytes: the header, a UTF-8 JSON object mapping each tensor name to
//     {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, plus
//     an optional "__metadata__" object mapping strings to strings;
//   - the byte buffer: the tensors' data, little-endian and row-major, each
//     tensor at [begin, end) relative to the start of the buffer.
//
// # What the writer guarantees
//
// Write produces the same bytes for the same tensors and metadata, whatever
// the order of the tensors in its argument: the header's keys are sorted
// ("__metadata__" sorts among the tensor names by bytes), each entry is
// written as {"dtype":...,"shape":...,"data_offsets":...}, and the header
// is padded with spaces so that the buffer starts at a multiple of 8 bytes.
// Tensors are laid out by decreasing element size and then by name, so that
// every tensor's data is aligned to its element size, as the reference
// implementation does. WriteFile replaces its file atomically.
//
// # What the reader guarantees
//
// Weight files come from strangers, so the reader treats its input as
// hostile: it never panics, and it allocates nothing from a declared size
// (header length, shape, offsets) before that size has been checked against
// the file's size. It reads the 8-byte prefix, checks the header length
// against the file size and MaxHeaderSize, reads and parses the header,
// checks every tensor, and only then reads the buffer. It rejects, with an
// error wrapping ErrInvalid that names the file (when it has a name) and the
// tensor:
//
//   - files shorter than 8 bytes, or shorter than their header says;
//   - a header longer than the file or than MaxHeaderSize;
//   - a header that is not valid UTF-8, not valid JSON, not a single JSON
//     object, or does not start with '{';
//   - duplicate keys anywhere in the header (encoding/json would silently
//     keep the last one), unknown or missing fields in a tensor entry;
//   - empty tensor names, unknown dtypes, shapes with negative or
//     non-integer dimensions, more than MaxRank dimensions, or an element
//     count whose byte size overflows an int64;
//   - data_offsets that are not two non-negative integers with begin <= end
//     and end inside the buffer, or whose length is not the shape's element
//     count times the dtype's size;
//   - tensors that overlap, and buffers with holes or trailing bytes that
//     no tensor covers;
//   - "__metadata__" that is not an object of strings.
//
// The reader is stricter than the reference implementation in two ways: it
// rejects unknown fields in tensor entries and a null "__metadata__".
//
// # Limits
//
// The header may be at most MaxHeaderSize (100 MB) long, like the
// reference implementation's, and a shape at most MaxRank dimensions. The
// header's parsed form (names, shapes) takes memory proportional to the
// header's length: at most a few times its length for a header made only of
// tiny tensors. ReadFile and Read hold the whole buffer in memory, so
// they suit models that fit in memory.
package safetensors
