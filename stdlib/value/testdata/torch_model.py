"""PyTorch side of the model weights round trip (torch_test.go).

Usage: python3 torch_model.py WIDTHS ACTIVATION GO_WEIGHTS INPUTS OUT

WIDTHS is "in,hidden...,out": the mlp as nn.Sequential(Linear, act, Linear,
..., Linear) with biases. The script loads GO_WEIGHTS (written by mlpipe)
into it with load_state_dict(strict=True) and computes its logits on the
"x" tensor of INPUTS; then it initialises a fresh module of the same shape
(torch.manual_seed(0)) and computes its logits too. OUT, a safetensors
file, gets "go_logits", "torch_logits" and the fresh module's state dict,
exactly as torch names and shapes it.

The safetensors reader and writer are those of the safetensors package's
own interoperability test.
"""

import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "safetensors", "testdata"))
from torch_interop import read_safetensors, write_safetensors  # noqa: E402

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def build(widths, activation):
    layers = []
    for i in range(len(widths) - 1):
        if i > 0:
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(widths[i], widths[i + 1]))
    return nn.Sequential(*layers)


def main(widths, activation, go_path, inputs_path, out_path):
    widths = [int(w) for w in widths.split(",")]
    go_weights, _ = read_safetensors(go_path)
    x = read_safetensors(inputs_path)[0]["x"]
    model = build(widths, activation)
    model.load_state_dict(go_weights, strict=True)
    with torch.no_grad():
        go_logits = model(x)
    torch.manual_seed(0)
    fresh = build(widths, activation)
    with torch.no_grad():
        torch_logits = fresh(x)
    out = {name: t.detach().contiguous() for name, t in fresh.state_dict().items()}
    out["go_logits"] = go_logits.contiguous()
    out["torch_logits"] = torch_logits.contiguous()
    write_safetensors(out_path, out, {"format": "pt"})


if __name__ == "__main__":
    main(*sys.argv[1:])
