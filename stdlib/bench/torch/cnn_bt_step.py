"""Twin of mlpipe's cnn_bt_step: one Adam step (lr 1e-3) of Barlow Twins with
the CNN encoder, projector and bt() loss of /work/shared/bench/torch_ssl_peer.py
(lambda 0.005, std() with eps 1e-6): encoder conv(1->32)-BN2d-ReLU-MaxPool2d(2)-
conv(32->64)-BN2d-ReLU-MaxPool2d(2)-conv(64->128)-BN2d-ReLU-AdaptiveAvgPool2d(1)
(3x3 kernels, padding 1), projector linear(128->512)-BN1d-ReLU-linear(512->64),
float32, on two fixed synthetic views of 256 1x28x28 images. Each view is its
own forward pass, so each batch norm uses that view's batch statistics."""
import torch
import torch.nn as nn

from bt_loss import bt_step
from common import emit, parse_args, step_result, time_steps

args = parse_args(__doc__, steps=10, warmup=2)
torch.manual_seed(0)
B, S, C1, C2, C3, H2, P = (8, 8, 2, 3, 4, 6, 4) if args.tiny else (256, 28, 32, 64, 128, 512, 64)
enc = nn.Sequential(
    nn.Conv2d(1, C1, 3, padding=1), nn.BatchNorm2d(C1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(C1, C2, 3, padding=1), nn.BatchNorm2d(C2), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(C2, C3, 3, padding=1), nn.BatchNorm2d(C3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
proj = nn.Sequential(nn.Linear(C3, H2), nn.BatchNorm1d(H2), nn.ReLU(), nn.Linear(H2, P))
x0, x1 = torch.rand(B, 1, S, S), torch.rand(B, 1, S, S)
step = bt_step(enc, proj, [x0, x1], 0.005)

times, losses = time_steps(step, args.warmup, args.steps)
res = step_result(times)
res["extra"] = {"loss_first": losses[0].item(), "loss_last": losses[-1].item(),
                "torch_threads": torch.get_num_threads()}
emit(res)
