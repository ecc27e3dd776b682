#!/usr/bin/env bash
# The training measurements of issue 10 for one lent GPU, in order of priority, in under 9 minutes:
#   1. benchmarks/gpu_train.py        the trainer's own step: N=128/b256, 512/64, 2048/16, eager + compiled
#   2. benchmarks/bench_padding.py    data.pad_multiple on ragged windows (N=2048, 16 windows of 600-2048 shots)
#   3. benchmarks/gpu_train.py --longest   the longest window at batch 1, activation checkpointing
# Each step has its own time limit, so a slow one cannot starve the next; results land in $OUT (the device
# tool's folder that comes back) or the first argument. It needs only PyTorch, NumPy, safetensors, PyYAML and
# tqdm (the device image has them): lmp itself is read from src/.
#
#   bash benchmarks/gpu_session.sh                 # on the GPU machine (device tool: timeout_s 580)
#   SMOKE=1 bash benchmarks/gpu_session.sh /tmp/g  # on a CPU, tiny sizes: does the script run?
set -u
out=${1:-${OUT:-benchmarks/results/$(date +%F)}}
mkdir -p "$out"
py=${PY:-python3}
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
smoke=${SMOKE:-0}

{
  date -u
  git rev-parse HEAD 2>/dev/null || true
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>/dev/null || echo "no nvidia-smi"
  $py -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())"
} > "$out/env.txt" 2>&1

if [ "$smoke" = 1 ]; then
  timeout 300 $py benchmarks/gpu_train.py "$out/gpu_train.json" --smoke --modes eager > "$out/gpu_train.txt" 2>&1
  timeout 120 $py benchmarks/bench_padding.py --model tiny --dims 16,8,8 --window 64 --lengths 20,30,40,64 \
    --pad-multiple 16 --rounds 2 --steps 2 > "$out/padding.txt" 2>&1
  timeout 300 $py benchmarks/gpu_train.py "$out/gpu_longest.json" --smoke --longest > "$out/gpu_longest.txt" 2>&1
else
  timeout 330 $py benchmarks/gpu_train.py "$out/gpu_train.json" --budget-s 270 > "$out/gpu_train.txt" 2>&1
  lengths=$($py -c "import numpy as np; print(','.join(map(str, np.random.default_rng(0).integers(600, 2049, 16))))")
  timeout 90 $py benchmarks/bench_padding.py --device cuda --window 2048 --lengths "$lengths" --pad-multiple 128 \
    --rounds 3 --steps 5 > "$out/padding.txt" 2>&1
  timeout 100 $py benchmarks/gpu_train.py "$out/gpu_longest.json" --longest --budget-s 80 > "$out/gpu_longest.txt" 2>&1
fi
tail -n 30 "$out"/*.txt
