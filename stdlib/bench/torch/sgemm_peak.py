"""Twin of mlpipe's sgemm_peak: one float32 matrix product C = A·B of
2048x2048 matrices with torch.mm(out=), A and B uniform in [0, 1)."""
import torch

from common import emit, parse_args, step_result, time_steps

args = parse_args(__doc__, steps=10, warmup=2)
torch.manual_seed(0)
n = 64 if args.tiny else 2048
a, b, c = torch.rand(n, n), torch.rand(n, n), torch.empty(n, n)
times, _ = time_steps(lambda: torch.mm(a, b, out=c), args.warmup, args.steps)
res = step_result(times)
res["extra"] = {"gflops": 2 * n ** 3 / res["ms_per_step"] / 1e6, "torch_threads": torch.get_num_threads()}
emit(res)
