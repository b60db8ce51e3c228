"""Train the PyTorch peer's Fashion-MNIST MLP and export its weights for mlpipe.

Trains the supervised MLP of /work/shared/bench/torch_fashion_peer.py exactly
as that script does (torch.set_num_threads(1), torch.manual_seed(0),
np.random.seed(0), nn.Sequential(Linear(784, 256), ReLU, Linear(256, 10)),
Adam 1e-3, batch 128, a fresh torch.randperm order each epoch, 5 epochs),
then:

- writes the state dict (0.weight, 0.bias, 2.weight, 2.bias; float32,
  row-major) to a safetensors file that mlpipe's load_weights reads
  (--out), and reads it back into a fresh module as a check;
- writes a JSON file (--json) with the clean test accuracy and the robust
  accuracies of FGSM l-inf and PGD-10 l-inf (step 2.5*eps/10, no random
  start) at eps 0.05 and 0.1 on the test images, computed with the peer's
  own fgsm() and pgd() on the same weights (copied below).

--limit N trains and tests on the first N images of each split (0: all
60,000 / 10,000). The data are the Fashion-MNIST IDX files (.gz or plain) in
$MLPIPE_DATA/fashion-mnist if MLPIPE_DATA is set, else
/usr/share/datasets/fashion-mnist (apt-get install -y dataset-fashion-mnist).
Run with Debian's PyTorch: /usr/bin/python3 fashion_peer.py.

Nothing is imported from the peer script; Python's safetensors package is
not used (Debian 12 has none): the writer below uses only struct and json.
"""
import argparse
import gzip
import json
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

EPSILONS = (0.05, 0.1)
PGD_STEPS = 10


def data_dir():
    """Where mlpipe's fashion_mnist loader looks by default."""
    data = os.environ.get("MLPIPE_DATA")
    return os.path.join(data, "fashion-mnist") if data else "/usr/share/datasets/fashion-mnist"


def idx(directory, name):
    """Reads an IDX file, name.gz or plain name, as the peer's idx() does:
    images as float32 rows scaled to [0, 1], labels as int64."""
    path = os.path.join(directory, name + ".gz")
    if os.path.exists(path):
        with gzip.open(path) as f:
            data = f.read()
    else:
        with open(os.path.join(directory, name), "rb") as f:
            data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        r, c = struct.unpack(">II", data[8:16])
        return np.frombuffer(data[16:], np.uint8).reshape(n, r * c).astype(np.float32) / 255.0
    return np.frombuffer(data[8:], np.uint8).astype(np.int64)


# The peer's model, training, accuracy and attacks, unchanged.

def mlp(widths):
    layers = []
    for a, b in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def acc(m, x, y):
    with torch.no_grad():
        return (m(x).argmax(1) == y).float().mean().item()


def train_sup(m, xtr, ytr, epochs=5, bs=128, lr=1e-3):
    opt = torch.optim.Adam(m.parameters(), lr=lr)
    t = time.time()
    for ep in range(epochs):
        perm = torch.randperm(len(xtr))
        for i in range(0, len(xtr), bs):
            b = perm[i:i + bs]
            opt.zero_grad(); F.cross_entropy(m(xtr[b]), ytr[b]).backward(); opt.step()
    return time.time() - t


def fgsm(m, x, y, eps):
    x = x.clone().requires_grad_(True)
    F.cross_entropy(m(x), y).backward()
    return (x + eps * x.grad.sign()).clamp(0, 1).detach()


def pgd(m, x, y, eps, steps=10, alpha=None):
    alpha = alpha or 2.5 * eps / steps
    xa = x.clone()
    for _ in range(steps):
        xa.requires_grad_(True)
        g, = torch.autograd.grad(F.cross_entropy(m(xa), y), xa)
        xa = (x + (xa.detach() + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return xa.detach()


# safetensors: an 8-byte little-endian header length, a JSON header
# {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__":
# {str: str}} padded with spaces to a multiple of 8 bytes, then the tensors'
# raw bytes, back to back, in header order.

def write_safetensors(path, tensors, metadata):
    """Writes float32 tensors (in dict order) and string metadata to path."""
    header = {"__metadata__": {k: str(v) for k, v in metadata.items()}}
    chunks, offset = [], 0
    for name, tensor in tensors.items():
        t = tensor.detach().to(torch.float32).contiguous().cpu()
        raw = t.numpy().astype("<f4", copy=False).tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = json.dumps(header).encode("utf-8")
    encoded += b" " * (-(8 + len(encoded)) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for raw in chunks:
            f.write(raw)
    os.replace(tmp, path)


def read_safetensors(path):
    """Reads the F32 tensors of the safetensors file at path (the check)."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        assert e["dtype"] == "F32", (name, e["dtype"])
        begin, end = e["data_offsets"]
        raw = bytearray(blob[8 + n + begin:8 + n + end])
        out[name] = torch.frombuffer(raw, dtype=torch.float32).reshape(e["shape"])
    return out


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--limit", type=int, default=0, help="train and test on the first N images of each split (0: all)")
    p.add_argument("--epochs", type=int, default=5, help="training epochs (the peer's: 5)")
    p.add_argument("--seed", type=int, default=0, help="the seed of torch and numpy (the peer's: 0)")
    p.add_argument("--out", default="fashion_peer.safetensors", help="the safetensors file to write")
    p.add_argument("--json", default="fashion_peer.json", help="the JSON file of accuracies to write")
    args = p.parse_args()
    if args.limit < 0 or args.epochs < 1:
        p.error("--limit must be >= 0 and --epochs >= 1")

    # The peer's settings, in its order: threads and seeds, then the data,
    # then the model (its initialisation draws from the seeded generator).
    torch.set_num_threads(1); torch.manual_seed(args.seed); np.random.seed(args.seed)
    d = data_dir()
    xtr, ytr = idx(d, "train-images-idx3-ubyte"), idx(d, "train-labels-idx1-ubyte")
    xte, yte = idx(d, "t10k-images-idx3-ubyte"), idx(d, "t10k-labels-idx1-ubyte")
    xtr, ytr, xte, yte = map(torch.from_numpy, (xtr, ytr, xte, yte))
    if args.limit:
        xtr, ytr, xte, yte = xtr[:args.limit], ytr[:args.limit], xte[:args.limit], yte[:args.limit]

    m = mlp([784, 256, 10])
    secs = train_sup(m, xtr, ytr, epochs=args.epochs)

    state = m.state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"], list(state)
    write_safetensors(args.out, state, {
        "format": "pt",
        "source": "pipelines/robust/peer/fashion_peer.py",
        "model": "nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))",
        "training": f"Adam 1e-3, batch 128, {args.epochs} epochs, torch.manual_seed({args.seed}), limit {args.limit}",
        "torch": torch.__version__,
    })
    back = mlp([784, 256, 10])
    back.load_state_dict(read_safetensors(args.out), strict=True)
    for k, v in back.state_dict().items():
        assert torch.equal(v, state[k]), f"{args.out}: tensor {k} does not read back"

    clean = acc(m, xte, yte)
    result = {
        "model": "mlp 784-256-10 (bias, relu)",
        "train_images": len(xtr), "test_images": len(xte), "epochs": args.epochs, "limit": args.limit,
        "train_seconds": secs,
        "clean_acc": clean,
        "fgsm_linf": {}, "pgd10_linf": {},
        "pgd_steps": PGD_STEPS, "pgd_step_size": "2.5*eps/10", "pgd_random_start": False,
        "weights": os.path.abspath(args.out),
        "torch": torch.__version__,
    }
    for eps in EPSILONS:
        result["fgsm_linf"][str(eps)] = acc(m, fgsm(m, xte, yte, eps), yte)
        result["pgd10_linf"][str(eps)] = acc(m, pgd(m, xte, yte, eps, steps=PGD_STEPS), yte)
    write_json(args.json, result)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
