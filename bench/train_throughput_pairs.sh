#!/usr/bin/env bash
# TorchSharp vs PyTorch training throughput, interleaved pairs (the VM's speed drifts over minutes, so each PyTorch run
# is paired with a TorchSharp run right after it). Prints every run and, per net, the ratio of the sums of medians.
#   bash bench/train_throughput_pairs.sh [PAIRS=4] [STEPS=40] [PYTORCH_LAYOUT=channels-last|nchw]
# PyTorch trains channels-last by default, the layout GestaltLab trains in on the CPU (like for like); nchw gives
# PyTorch's default layout instead.
# Needs /usr/bin/python3 with python3-torch (bash environment/setup.sh --bench) and a Release build (./gestaltlab builds it).
set -euo pipefail
cd "$(dirname "$0")/.."
pairs="${1:-4}"; steps="${2:-40}"; layout="${3:-channels-last}"
case "$layout" in channels-last) pt_layout=(--channels-last) ;; nchw) pt_layout=() ;; *) echo "layout must be channels-last or nchw, got $layout" >&2; exit 2 ;; esac
for convs in 1 2; do
  pt=0; ts=0
  for ((i = 1; i <= pairs; i++)); do
    a=$(/usr/bin/python3 bench/pytorch/train_throughput.py --convs "$convs" --steps "$steps" ${pt_layout[@]+"${pt_layout[@]}"} | tail -1)
    b=$(./gestaltlab bench train-throughput --convs "$convs" --steps "$steps" | tail -1)
    echo "$a"; echo "$b"
    pt=$(awk -v s="$pt" -v l="$a" 'BEGIN { split(l, f, ": "); print s + f[2] + 0 }')
    ts=$(awk -v s="$ts" -v l="$b" 'BEGIN { split(l, f, ": "); print s + f[2] + 0 }')
  done
  awk -v c="$convs" -v p="$pt" -v t="$ts" -v n="$pairs" -v l="$layout" \
    'BEGIN { printf "net with %d conv/stage: PyTorch (%s) %.1f, TorchSharp %.1f images/s (mean of %d medians) -> ratio %.2fx\n", c, l, p / n, t / n, n, t / p }'
done
