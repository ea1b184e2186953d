#!/usr/bin/env bash
# Trains the shipped default model (variable-rate mbt2018-mean, CompressAI's 8 MSE λ as gain
# levels) on a lent GPU machine, for a fixed wall-clock budget.
#
# Prepared here (see weights/MANIFEST.json for the exact runs):
#   .gpu/neco          stripped target/release/neco
#   .gpu/train/        ../shared/datasets/train re-encoded as JPEG (BSDS500 as shipped, CID22 q90)
#                      so it fits the device tool's 64 MiB transfer limit
# Since the shipped weights (14 MB) travel as tracked files, binary and data no longer fit beside
# them: tools/gpu/prepare.py builds a compressed binary and a training subset that do, and
# tools/gpu/session.sh runs this script from them (with the cross-device check) in one call.
# Then on the device: tools/gpu/train_default.sh MINUTES [extra neco-train flags...]
# To continue from the shipped weights rather than start fresh (the GPU budget per session is
# short, so runs add up): tools/gpu/train_default.sh 9 --init weights/hyperprior.safetensors
# (LR=1e-4 WARMUP=100 for a gentler continuation: neco train refuses a flag given twice, so the
# script's own flags are set through these variables). weights.safetensors and log.jsonl come
# back in $OUT; the 84 MB checkpoint stays on the machine (over the 16 MB return limit).
# Also from the environment: NECO (the binary), TRAIN_DATA (the image folder), BATCH, PATCH,
# DECAY_START, DEVICE, WORKERS, LOG_EVERY, RUN_DIR.
set -euo pipefail
MINUTES=${1:-8}
shift || true
TORCH_LIB=$(ls -d /opt/torch/.venv/lib/python3*/site-packages/torch/lib 2>/dev/null | head -1 || true)
export LD_LIBRARY_PATH="${TORCH_LIB}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
RUN=${RUN_DIR:-/tmp/neco-run}
mkdir -p "$RUN"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
NECO=${NECO:-./.gpu/neco}
"$NECO" train --model mbt2018-mean --n 128 --m 192 --lambda compressai \
  --data "${TRAIN_DATA:-.gpu/train}" --steps 1000000 --batch "${BATCH:-16}" --patch "${PATCH:-256}" \
  --lr "${LR:-2e-4}" --warmup "${WARMUP:-500}" --decay-start "${DECAY_START:-0.6}" --device "${DEVICE:-cuda}" --workers "${WORKERS:-8}" --out "$RUN" \
  --max-minutes "$MINUTES" --half --log-every "${LOG_EVERY:-250}" --checkpoint-every 5000 --quiet "$@" 2>&1 | grep -v '^{' || true
tail -n 3 "$RUN/log.jsonl"
if [ -n "${OUT:-}" ]; then
  cp "$RUN/weights.safetensors" "$RUN/log.jsonl" "$OUT/"
fi
