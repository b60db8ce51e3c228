"""Twin of mlpipe's pgd10_fashion: the pgd() of
/work/shared/bench/torch_fashion_peer.py (PGD-10 l-inf, eps 0.1, step
2.5*eps/10, no random start, clamped to [0, 1], torch.autograd.grad of the
mean cross-entropy) on all 10,000 Fashion-MNIST test images in one batch
(200 with --tiny, as mlpipe), against an MLP 784-256-10 (nn.Linear with
biases, ReLU; torch.manual_seed(0) initialisation). One step is one whole
attack; images_per_s counts attacked images per second."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import emit, idx, parse_args, step_result, time_steps

args = parse_args(__doc__, steps=5, warmup=1)
torch.manual_seed(0)


def pgd(m, x, y, eps, steps=10, alpha=None):
    # The peer's pgd(), unchanged.
    alpha = alpha or 2.5 * eps / steps
    xa = x.clone()
    for _ in range(steps):
        xa.requires_grad_(True)
        g, = torch.autograd.grad(F.cross_entropy(m(xa), y), xa)
        xa = (x + (xa.detach() + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return xa.detach()


n = 200 if args.tiny else 10000
x = torch.from_numpy(idx("t10k-images-idx3-ubyte.gz"))[:n]
y = torch.from_numpy(idx("t10k-labels-idx1-ubyte.gz"))[:n]
m = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
EPS = 0.1

times, advs = time_steps(lambda: pgd(m, x, y, EPS), args.warmup, args.steps)
res = step_result(times)
res["extra"] = {"images": n, "images_per_s": n / (res["ms_per_step"] / 1e3),
                "mean_abs_perturbation": (advs[-1] - x).abs().mean().item(),
                "torch_threads": torch.get_num_threads()}
emit(res)
