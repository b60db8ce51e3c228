"""Twin of mlpipe's cnn_step: one SGD step (lr 0.01) of
conv(1->32, 3x3, pad 1) - BatchNorm2d - ReLU - MaxPool2d(2) -
conv(32->64, 3x3, pad 1) - BatchNorm2d - ReLU - MaxPool2d(2) - flatten -
linear(3136->10), mean softmax cross-entropy, float32, on a fixed synthetic
batch of 128 1x28x28 images."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import emit, parse_args, step_result, time_steps

args = parse_args(__doc__, steps=40, warmup=5)
torch.manual_seed(0)
B, S, C1, C2, K = (4, 8, 2, 3, 4) if args.tiny else (128, 28, 32, 64, 10)
m = nn.Sequential(
    nn.Conv2d(1, C1, 3, padding=1), nn.BatchNorm2d(C1), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(C1, C2, 3, padding=1), nn.BatchNorm2d(C2), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(C2 * (S // 4) * (S // 4), K))
opt = torch.optim.SGD(m.parameters(), lr=0.01)
x = torch.rand(B, 1, S, S)
y = torch.randint(0, K, (B,))


def step():
    opt.zero_grad()
    loss = F.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
    return loss.detach()


times, losses = time_steps(step, args.warmup, args.steps)
res = step_result(times)
res["extra"] = {"loss_first": losses[0].item(), "loss_last": losses[-1].item(),
                "torch_threads": torch.get_num_threads()}
emit(res)
