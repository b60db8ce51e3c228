"""Twin of mlpipe's mlp_step: one SGD step (lr 0.01) of an MLP
784 -> 512 -> 512 -> 10 (no bias, ReLU, mean softmax cross-entropy,
float32) on a fixed synthetic batch of 256; the step of
/work/shared/bench/torch_mlp_step.py."""
import torch
import torch.nn.functional as F

from common import emit, parse_args, step_result, time_steps, train_flops

args = parse_args(__doc__, steps=200, warmup=20)
torch.manual_seed(0)
B, D, H, C = (8, 12, 16, 4) if args.tiny else (256, 784, 512, 10)
m = torch.nn.Sequential(
    torch.nn.Linear(D, H, bias=False), torch.nn.ReLU(),
    torch.nn.Linear(H, H, bias=False), torch.nn.ReLU(),
    torch.nn.Linear(H, C, bias=False))
opt = torch.optim.SGD(m.parameters(), lr=0.01)
x = torch.rand(B, D)
y = torch.randint(0, C, (B,))


def step():
    opt.zero_grad()
    loss = F.cross_entropy(m(x), y)
    loss.backward()
    opt.step()
    return loss.detach()


times, losses = time_steps(step, args.warmup, args.steps)
res = step_result(times)
flops = train_flops([D, H, H, C], B)
res["extra"] = {"gflops": flops / res["ms_per_step"] / 1e6, "flops_per_step": flops,
                "loss_first": losses[0].item(), "loss_last": losses[-1].item(),
                "torch_threads": torch.get_num_threads()}
emit(res)
