"""Shared helpers of mlpipe's PyTorch twin scripts (run by `mlpipe bench`).

Every twin prints one JSON line, the same shape as `mlpipe bench-worker`:
{"ms_per_step": .., "steps": .., "seconds": .., "extra": {..}}.
Step workloads run --warmup untimed steps, then time --steps steps one by
one with time.perf_counter (a monotonic clock) and report the median.
Thread counts come from the environment (OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS), set by `mlpipe bench`; no script calls
torch.set_num_threads.
"""
import argparse
import gzip
import json
import os
import statistics
import struct
import time


def parse_args(doc, steps=0, warmup=0):
    p = argparse.ArgumentParser(description=doc)
    p.add_argument("--steps", type=int, default=steps, help="measured steps")
    p.add_argument("--warmup", type=int, default=warmup, help="untimed steps before them")
    p.add_argument("--tiny", action="store_true", help="tiny shapes, for tests")
    return p.parse_args()


def time_steps(step, warmup, steps):
    """Runs step warmup times, then steps times timed one by one.

    Returns the times in milliseconds and the values step returned."""
    outs = []
    for _ in range(warmup):
        outs.append(step())
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        out = step()
        times.append((time.perf_counter() - t) * 1e3)
        outs.append(out)
    return times, outs


def step_result(times, **extra):
    """The median step time, the number of steps and their sum in seconds."""
    return {"ms_per_step": statistics.median(times), "steps": len(times),
            "seconds": sum(times) / 1e3, "extra": extra}


def train_flops(widths, batch):
    """FLOPs of the matrix products of one training step of a bias-free or
    biased MLP with these layer widths, counted as mlpipe counts them
    (bench.TrainFLOPs): forward, weight gradient and input gradient per
    linear layer, without the first layer's input gradient."""
    flops = 0
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        flops += (2 if i == 0 else 3) * 2 * batch * a * b
    return flops


def fashion_mnist_dir():
    """Where mlpipe's fashion_mnist loader looks by default."""
    data = os.environ.get("MLPIPE_DATA")
    return os.path.join(data, "fashion-mnist") if data else "/usr/share/datasets/fashion-mnist"


def idx(name):
    """Reads the IDX file name (such as "t10k-images-idx3-ubyte.gz") of
    fashion_mnist_dir(), or the same name without ".gz" when only that
    exists: images as an n x 784 float32 array of pixels in [0, 1], labels
    as an int64 vector."""
    import numpy as np

    path = os.path.join(fashion_mnist_dir(), name)
    opener = gzip.open if os.path.exists(path) else open
    with opener(path if os.path.exists(path) else path[:-len(".gz")], "rb") as f:
        data = f.read()
    magic, n = struct.unpack(">II", data[:8])
    if magic == 2051:
        r, c = struct.unpack(">II", data[8:16])
        return np.frombuffer(data[16:], np.uint8).reshape(n, r * c).astype(np.float32) / 255.0
    return np.frombuffer(data[8:], np.uint8).astype(np.int64)


def emit(result):
    print(json.dumps(result), flush=True)
