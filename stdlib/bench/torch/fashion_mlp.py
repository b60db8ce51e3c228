"""Twin of mlpipe's fashion_mlp_5ep: the first measurement of
/work/shared/bench/torch_fashion_peer.py. MLP 784-256-10 (with biases),
Adam 1e-3, batch 128, 5 epochs over the 60,000 Fashion-MNIST training
images in a fresh random order each epoch, then accuracy on the 10,000 test
images. "seconds" is the training loop's wall time, as mlpipe's
report.json training.seconds."""
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import emit, idx, parse_args

args = parse_args(__doc__)
torch.manual_seed(0)
np.random.seed(0)

xtr, ytr = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
xte, yte = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
xtr, ytr, xte, yte = map(torch.from_numpy, (xtr, ytr, xte, yte))
epochs = 5
if args.tiny:  # as mlpipe's --set limit=500 --set epochs=1
    xtr, ytr, xte, yte, epochs = xtr[:500], ytr[:500], xte[:500], yte[:500], 1

m = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
opt = torch.optim.Adam(m.parameters(), lr=1e-3)
bs, steps = 128, 0
t = time.perf_counter()
for ep in range(epochs):
    perm = torch.randperm(len(xtr))
    for i in range(0, len(xtr), bs):
        b = perm[i:i + bs]
        opt.zero_grad()
        F.cross_entropy(m(xtr[b]), ytr[b]).backward()
        opt.step()
        steps += 1
secs = time.perf_counter() - t
with torch.no_grad():
    acc = (m(xte).argmax(1) == yte).float().mean().item()
emit({"ms_per_step": secs * 1e3 / steps, "steps": steps, "seconds": secs,
      "extra": {"test_acc": acc, "torch_threads": torch.get_num_threads()}})
