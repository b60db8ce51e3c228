#!/usr/bin/env bash
# Measures pipelines/fashion_mlp.mlp against its PyTorch twin (the first
# measurement of ../shared/bench/torch_fashion_peer.py: MLP 784-256-10, Adam
# 1e-3, batch 128, 5 epochs), interleaved in one run on one machine.
# Needs: apt-get install -y dataset-fashion-mnist python3-torch
# Usage: docs/measure/fashion_mlp.sh [REPEATS]   (from the repository root)
# Prints one line per run: who, threads, test accuracy, training seconds.
# Never sets OPENBLAS_CORETYPE.
set -euo pipefail
repeats=${1:-3}
peer=${PEER:-../shared/bench/torch_fashion_peer.py}
bin=$(mktemp -d)/mlpipe
trap 'rm -rf "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/mlpipe
echo "machine: $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores; $("$bin" version | sed -n 's/^backend: //p')"
for i in $(seq "$repeats"); do
  for threads in 1 2; do
    out=$(mktemp -d)
    GOMAXPROCS=$threads "$bin" run pipelines/fashion_mlp.mlp --out "$out" >/dev/null 2>&1
    python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("mlpipe  threads=%s  acc=%.4f  train_s=%.2f" % (sys.argv[2], r["metrics"]["accuracy"], r["training"]["seconds"]))' "$out/report.json" "$threads"
    rm -rf "$out"
  done
  # The peer prints its supervised result first; stop it after that line.
  OMP_NUM_THREADS=1 /usr/bin/python3 -u "$peer" 2>/dev/null | head -1 |
    python3 -c 'import json,sys; r=json.loads(sys.stdin.readline()); print("torch   threads=1  acc=%.4f  train_s=%.2f" % (r["test_acc"], r["train_seconds"]))' || true
done
