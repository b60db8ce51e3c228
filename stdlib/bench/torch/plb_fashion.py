"""Twin of mlpipe's plb_fashion: the ProxLogBarrier l2 attack of Pooladian
et al. (proxlogbarrier_Top1.py of APooladian/ProxLogBarrierAttack, with
the Gaussian initialisation of its InitMethods.py) on the first 250
Fashion-MNIST test images in one batch (50 images and 10 x 10 iterations
with --tiny, as mlpipe), against an MLP 784-256-10 (nn.Linear with biases,
ReLU) whose weights are mlpipe's backend.Init(arch, 0), rebuilt bit for
bit here (weight_sum shows it).

The algorithm is attack.ProxLogBarrier's with attack.NewProxLogBarrier's
settings, those of the reference: the barrier -log(max_i z_i - z_y) on the
logits; images misclassified already stay; the others start from
x0 + 1.01^k * 0.01 * N(0, I) clamped to [0, 1], k = 0, 1, ... until
misclassified (at most 1000 draws; a failure is not attacked); then 30
outer loops (alpha_k = 0.1 * 0.75^k) of 30 inner iterations: one gradient
of alpha_k * (sum of the barriers) over the batch, u = x - 0.1 * g, the l2
prox with weight T = 1, clamping into [0, 1], then back-tracking (x <-
0.05 * x + 0.95 * xold for the images classified correctly, one forward
pass of the batch a round; after 50 rounds, mlpipe's cap, x <- xold), and
the closest iterate kept; finally one forward pass verifies the best
points. The noise is torch's, not mlpipe's, so the two sides take
different but statistically alike paths (about 1% apart in forward
passes): both report their gradient and forward passes. One step is one
whole attack; images_per_s counts attacked images per second; median_l2 is
the median l2 distance of the adversarial points found for the images the
model classified correctly."""
import math

import numpy as np
import torch
import torch.nn as nn

from common import emit, idx, parse_args, step_result, time_steps

args = parse_args(__doc__, steps=2, warmup=1)

# attack.NewProxLogBarrier(attack.L2)
DT, ALPHA0, BETA, GAMMA, T = 0.1, 0.1, 0.75, 0.05, 1.0
MAX_OUTER, MAX_INNER, INIT_ITERS, MAX_BACKTRACK = 30, 30, 1000, 50
LO, HI = 0.0, 1.0
if args.tiny:
    MAX_OUTER = MAX_INNER = 10


class PCG:
    """Go's math/rand/v2 PCG (128-bit LCG, DXSM output) and Rand.Float64."""
    MASK64, MASK128 = (1 << 64) - 1, (1 << 128) - 1
    MUL = (2549297995355413924 << 64) | 4865540595714422341
    INC = (6364136223846793005 << 64) | 1442695040888963407

    def __init__(self, seed1, seed2):
        self.s = (seed1 << 64) | seed2

    def uint64(self):
        self.s = (self.s * self.MUL + self.INC) & self.MASK128
        hi, lo = self.s >> 64, self.s & self.MASK64
        hi ^= hi >> 32
        hi = (hi * 0xda942042e4dd58b5) & self.MASK64
        hi ^= hi >> 48
        return (hi * (lo | 1)) & self.MASK64

    def float64(self):
        return (self.uint64() & ((1 << 53) - 1)) / (1 << 53)


def mlpipe_init(m):
    """Sets the weights of the nn.Sequential m of Linear layers as mlpipe's
    backend.Init(arch, 0): U(-1/sqrt(fan_in), 1/sqrt(fan_in)) drawn in
    float64 from PCG(0, "mlpipe"), layer by layer, weight (row-major, out x
    in) before bias, rounded to float32."""
    rng = PCG(0, 0x6d6c70697065)
    with torch.no_grad():
        for layer in m:
            if not isinstance(layer, nn.Linear):
                continue
            bound = 1 / math.sqrt(layer.in_features)
            for p in (layer.weight, layer.bias):
                v = [bound * (2 * rng.float64() - 1) for _ in range(p.numel())]
                p.copy_(torch.from_numpy(np.array(v, dtype=np.float64).astype(np.float32)).view_as(p))


def plb(m, x0, y):
    """Returns the best points, which images succeeded, which were
    misclassified clean, and the gradient and forward passes. Every call
    draws the same noise (as mlpipe's, whose Seed is fixed), so that every
    attack does the same work."""
    torch.manual_seed(0)
    n = len(y)
    ix = torch.arange(n)
    passes = {"grad": 0, "fwd": 0}

    def margin(x):  # max_i z_i - z_y: positive iff misclassified
        passes["fwd"] += 1
        z = m(x)
        return z.max(dim=-1)[0] - z[ix, y]

    def dist(x):
        return (x - x0).norm(dim=-1)

    with torch.no_grad():
        clean = margin(x0) > 0
        x = x0.clone()
        ok = margin(x) > 0
        for k in range(INIT_ITERS):
            todo = ~ok
            if not todo.any():
                break
            noise = torch.randn(int(todo.sum()), x0.shape[1])
            x[todo] = (x0[todo] + 1.01 ** k * 0.01 * noise).clamp(LO, HI)
            ok = margin(x) > 0
        attacked = ok & ~clean
        passes["init_fwd"] = passes["fwd"]
        best = dist(x)
        xbest, xold = x.clone(), x.clone()

    if attacked.any():
        for k in range(MAX_OUTER):
            alpha = ALPHA0 * BETA ** k
            for _ in range(MAX_INNER):
                x.requires_grad_(True)
                z = m(x)
                s = -torch.log(z.max(dim=-1)[0] - z[ix, y]).sum()
                g, = torch.autograd.grad(alpha * s, x)
                passes["grad"] += 1
                with torch.no_grad():
                    x = x.detach()
                    # Gradient step, l2 prox with weight T, clamping.
                    sa = x[attacked] - DT * g[attacked] - x0[attacked]
                    lam = torch.full((sa.shape[0], 1), T)
                    sa = (1 - lam / torch.max(lam, sa.norm(dim=-1, keepdim=True))) * sa
                    x[attacked] = (x0[attacked] + sa).clamp(LO, HI)
                    # Back-tracking into the misclassified region.
                    for t in range(MAX_BACKTRACK + 1):
                        todo = attacked & ~(margin(x) > 0)
                        if not todo.any():
                            break
                        if t == MAX_BACKTRACK:
                            x[todo] = xold[todo]
                            break
                        x[todo] = GAMMA * x[todo] + (1 - GAMMA) * xold[todo]
                    # The closest iterate so far.
                    d = dist(x)
                    better = attacked & (d <= best)
                    xbest[better], best[better] = x[better], d[better]
                    xold = x.clone()

    with torch.no_grad():
        success = ok & (margin(xbest) > 0)
    return xbest, success, clean, passes


n = 50 if args.tiny else 250
x = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz"))[:n]
y = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz"))[:n]
m = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
mlpipe_init(m)
for p in m.parameters():
    p.requires_grad_(False)

times, outs = time_steps(lambda: plb(m, x, y), args.warmup, args.steps)
xbest, success, clean, passes = outs[-1]
won = success & ~clean
d = (xbest[won] - x[won]).norm(dim=-1)
res = step_result(times)
res["extra"] = {"images": n, "images_per_s": n / (res["ms_per_step"] / 1e3),
                "attacked": int((~clean).sum()), "successes": int(won.sum()),
                "grad_passes": passes["grad"], "fwd_passes": passes["fwd"],
                "init_fwd_passes": passes["init_fwd"],
                "weight_sum": float(sum(p.double().sum() for p in m.parameters())),
                "torch_threads": torch.get_num_threads()}
if len(d):
    res["extra"]["median_l2"] = float(np.median(d.numpy()))
emit(res)
