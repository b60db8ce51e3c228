"""Twin of mlpipe's bt_step: one Adam step (lr 1e-3) of Barlow Twins with
the MLP encoder, projector and bt() loss of
/work/shared/bench/torch_ssl_peer.py (lambda 0.005, std() with eps 1e-6):
encoder linear(784->512)-BN1d-ReLU-linear(512->256)-BN1d-ReLU, projector
linear(256->512)-BN1d-ReLU-linear(512->64), float32, on two fixed synthetic
views of 256 images (no augmentation). Each view is its own forward pass,
so each batch norm uses that view's batch statistics."""
import torch
import torch.nn as nn

from bt_loss import bt_step
from common import emit, parse_args, step_result, time_steps, train_flops

args = parse_args(__doc__, steps=100, warmup=10)
torch.manual_seed(0)
B, D, H1, F, H2, P = (8, 12, 16, 8, 16, 4) if args.tiny else (256, 784, 512, 256, 512, 64)
enc = nn.Sequential(nn.Linear(D, H1), nn.BatchNorm1d(H1), nn.ReLU(),
                    nn.Linear(H1, F), nn.BatchNorm1d(F), nn.ReLU())
proj = nn.Sequential(nn.Linear(F, H2), nn.BatchNorm1d(H2), nn.ReLU(), nn.Linear(H2, P))
x0, x1 = torch.rand(B, D), torch.rand(B, D)
step = bt_step(enc, proj, [x0, x1], 0.005)

times, losses = time_steps(step, args.warmup, args.steps)
res = step_result(times)
flops = train_flops([D, H1, F, H2, P], 2 * B)  # linear layers only, over both views' rows
res["extra"] = {"gflops": flops / res["ms_per_step"] / 1e6, "flops_per_step": flops,
                "loss_first": losses[0].item(), "loss_last": losses[-1].item(),
                "torch_threads": torch.get_num_threads()}
emit(res)
