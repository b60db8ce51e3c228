"""Run the reference LogBarrier attack (cfinlay/logbarrier) on mlpipe-readable weights.

Loads the Fashion-MNIST MLP 784-256-10 from a safetensors file written by
fashion_peer.py, attacks the first --n test images with the reference
implementation's Attack class at its own defaults (--max-inner, --dt, --T
and --max-outer override them), and prints one JSON line: how many images
the model classifies correctly, how many of those the attack perturbed, how
many of its points are verified to be misclassified, the median and mean
distance over the correctly classified images, the median over all images
counting misclassified ones as 0 (the basis of mlpipe's robustness tables),
and the wall time.

The reference code is not part of mlpipe: pass the directory of a checkout
of https://github.com/cfinlay/logbarrier (the figures in docs/robustness.md
come from commit 4cabf97a) with --reference. Its logbarrier.py imports
pandas and pickle without using them; where pandas is not installed (Debian
12's python3-torch does not pull it in) an empty stand-in module is used.
Run with Debian's PyTorch: /usr/bin/python3 logbarrier_ref.py --reference DIR.
"""
import argparse
import json
import os
import sys
import time
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_peer import data_dir, idx, mlp, read_safetensors  # noqa: E402


def load_reference(directory):
    """Imports logbarrier.py from directory, standing in for a missing pandas."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        sys.modules["pandas"] = types.ModuleType("pandas")
    sys.path.insert(0, directory)
    import logbarrier
    return logbarrier


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reference", required=True, help="directory of a checkout of cfinlay/logbarrier")
    p.add_argument("--weights", default="fashion_peer.safetensors", help="safetensors file of fashion_peer.py")
    p.add_argument("--norm", choices=["l2", "linf"], default="linf")
    p.add_argument("--n", type=int, default=500, help="attack the first N test images")
    p.add_argument("--seed", type=int, default=0, help="torch.manual_seed of the Gaussian start")
    p.add_argument("--threads", type=int, default=1)
    for name, kind in (("max-inner", int), ("max-outer", int), ("dt", float), ("T", float)):
        p.add_argument("--" + name, type=kind, help="override the reference default")
    args = p.parse_args()
    if args.n < 1:
        p.error("--n must be at least 1")

    lb = load_reference(args.reference)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    d = data_dir()
    x = torch.from_numpy(idx(d, "t10k-images-idx3-ubyte")[:args.n].copy())
    y = torch.from_numpy(idx(d, "t10k-labels-idx1-ubyte")[:args.n].copy())
    m = mlp([784, 256, 10])
    m.load_state_dict(read_safetensors(args.weights), strict=True)
    m.eval()
    for q in m.parameters():
        q.requires_grad_(False)

    overrides = {k.replace("-", "_"): v for k, v in
                 (("max-inner", args.max_inner), ("max-outer", args.max_outer), ("dt", args.dt), ("T", args.T))
                 if v is not None}
    norm = np.inf if args.norm == "linf" else 2
    attack = lb.Attack(m, norm=norm, verbose=False, **overrides)
    start = time.time()
    xp = attack(x, y)
    secs = time.time() - start

    correct = lb.Top1Criterion(x, y, m)
    dist = (xp - x).view(len(y), -1).norm(norm, -1)
    found = correct & ~torch.isnan(dist)
    fooled = ~lb.Top1Criterion(torch.nan_to_num(xp), y, m)
    on_correct = dist[found].numpy()
    all_inputs = torch.where(correct, torch.nan_to_num(dist, nan=float("inf")), torch.zeros_like(dist)).numpy()
    print(json.dumps({
        "norm": args.norm, "images": args.n, "correct": int(correct.sum()), "found": int(found.sum()),
        "verified": int((fooled & found).sum()),
        "median_correct": float(np.median(on_correct)) if len(on_correct) else None,
        "mean_correct": float(on_correct.mean()) if len(on_correct) else None,
        "median_all": float(np.median(all_inputs)), "seconds": secs, "overrides": overrides,
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    main()
