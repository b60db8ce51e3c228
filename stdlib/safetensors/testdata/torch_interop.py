"""PyTorch side of the safetensors interoperability test (torch_test.go).

Usage: python3 torch_interop.py IN OUT

Reads IN, a safetensors file the Go package wrote holding the state dict of
nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)) plus an int64
scalar "step", loads the state dict into that module with strict=True, runs
it on a fixed input and writes OUT, a safetensors file of its own making:
the module's state dict, "step" + 1, the input, the output (also as F64,
F16 and BF16), and probes of other dtypes each with its conversion to
float32 by torch ("<name>.as_f32").

Python's safetensors package is not used (Debian 12 has none): the reader
and writer below use only struct, json and torch.
"""

import json
import struct
import sys

import torch
from torch import nn

DTYPES = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}

# numpy has no bfloat16: its bytes are taken through a same-sized view.
BYTES_VIEW = {torch.bfloat16: torch.int16}


def read_safetensors(path):
    """Returns the tensors and metadata of the safetensors file at path."""
    with open(path, "rb") as f:
        blob = f.read()
    (header_len,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8 : 8 + header_len].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    buffer = blob[8 + header_len :]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        dtype = DTYPES[entry["dtype"]]
        shape = entry["shape"]
        if begin == end:
            tensors[name] = torch.empty(shape, dtype=dtype)
            continue
        raw = bytearray(buffer[begin:end])
        view = BYTES_VIEW.get(dtype, dtype)
        tensors[name] = torch.frombuffer(raw, dtype=view).view(dtype).reshape(shape)
    return tensors, metadata


def write_safetensors(path, tensors, metadata):
    """Writes tensors (in dict order) and metadata to path."""
    header = {}
    if metadata:
        header["__metadata__"] = metadata
    chunks = []
    offset = 0
    for name, tensor in tensors.items():
        tensor = tensor.detach().contiguous()
        view = BYTES_VIEW.get(tensor.dtype)
        raw = (tensor.view(view) if view else tensor).numpy().tobytes()
        header[name] = {
            "dtype": DTYPE_NAMES[tensor.dtype],
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + len(raw)],
        }
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode("utf-8")
    encoded += b" " * (-(8 + len(encoded)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in chunks:
            f.write(raw)


def probes():
    """Returns tensors of several dtypes with edge values, and torch's
    conversion of each to float32."""
    inf, nan = float("inf"), float("nan")
    floats = [0.0, -0.0, 1.0, -2.5, 65504.0, 6e-8, 1e-5, 3.3e38, inf, -inf, nan]
    values = {
        "probe.f64": torch.tensor([1 / 3, -1e300, 1e-300, 1 + 2**-30, inf, nan], dtype=torch.float64),
        "probe.f16": torch.tensor(floats, dtype=torch.float16),
        "probe.bf16": torch.tensor(floats, dtype=torch.bfloat16),
        "probe.i64": torch.tensor([-(2**63), 2**24 + 1, 2**63 - 1], dtype=torch.int64),
        "probe.i32": torch.tensor([-(2**31), 0, 2**31 - 1], dtype=torch.int32),
        "probe.i16": torch.tensor([-(2**15), 7, 2**15 - 1], dtype=torch.int16),
        "probe.i8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "probe.u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "probe.bool": torch.tensor([True, False, True]),
    }
    out = {}
    for name, tensor in values.items():
        out[name] = tensor
        out[name + ".as_f32"] = tensor.float()
    return out


def main(in_path, out_path):
    assert sys.byteorder == "little", "this helper assumes a little-endian machine"
    tensors, metadata = read_safetensors(in_path)
    step = tensors.pop("step")
    assert step.dtype == torch.int64 and step.shape == (), (step.dtype, step.shape)

    torch.manual_seed(0)  # the weights all come from the file anyway
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    model.load_state_dict(tensors, strict=True)
    x = torch.tensor(
        [[1.0, -2.0, 0.5, 3.0], [0.25, 0.0, -1.5, 2.0], [-1.0, 1.0, -1.0, 1.0]],
        dtype=torch.float32,
    )
    with torch.no_grad():
        y = model(x)

    out = dict(model.state_dict())
    out["step"] = step + 1
    out["input"] = x
    out["output"] = y
    out["output.f64"] = y.double()
    out["output.f16"] = y.half()
    out["output.bf16"] = y.bfloat16()
    out.update(probes())
    write_safetensors(out_path, out, dict(metadata, writer="torch " + torch.__version__))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
