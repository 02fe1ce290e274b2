#!/usr/bin/env bash
# The CPU fidelity study (docs/fidelity.md) in priority order, niced, 2 runs at a time; stop it any time and rerun:
# Snakemake reuses every finished run. WORK: the working directory (default /work/scratch/fidelity).
# PHASES: which phases to run (default "1 2 3 4 5 6"). The learning rates of phases 3 and 5 are the ones phase 2
# chose on validation, written into config/instruments.yaml (docs/fidelity.md, Learning rates).
set -uo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/work/scratch/fidelity}
PHASES=${PHASES:-1 2 3 4 5 6}
mkdir -p "$WORK"
sed "s#^    raw_dir: \.\./#    raw_dir: $(dirname "$PWD")/#" config/instruments.yaml > "$WORK/instruments.yaml"
export HF_HUB_OFFLINE=1
R=results/runs/adapt/amazon_instruments
smk() { nice -n 19 .venv/bin/snakemake --configfile "$WORK/instruments.yaml" --directory "$WORK" --cores 2 --keep-going "$@"; }
runs() { local seeds=$1; shift; for s in $seeds; do for m in "$@"; do echo "$R/minilm/converged/$m/nopt/$s/metrics.json"; done; done; }
list() { .venv/bin/python -c "import sys, yaml; print(' '.join(yaml.safe_load(open('config/instruments.yaml'))['experiments'][sys.argv[1]]['methods']))" "$1"; }
phase() { case " $PHASES " in *" $1 "*) echo "phase $1 $(date)"; return 0;; *) return 1;; esac; }
if phase 1; then  # the main claims: popularity, frozen, IISAN-text cached (the recipe's rate), ID SASRec; 3 seeds
  smk results/runs/baseline/amazon_instruments/popularity/{42,43,44}/metrics.json \
    $(runs "42 43 44" frozen iisan_text_cached) $R/id/converged/fta/nopt/{42,43,44}/metrics.json
fi
if phase 2; then smk results/tables/fidelity_instruments_lr.md; fi  # the learning-rate search, seed 42
if phase 3; then smk $(runs 42 $(list fidelity)); fi                # the ablations and PEFT in SASRec, seed 42
if phase 4; then smk results/tables/fidelity_instruments_budget.md; fi  # inside MiniLM under the CPU budget, seed 42
if phase 5; then smk $(runs "43 44" $(list fidelity)); fi           # ... seeds 43, 44
if phase 6; then  # the tables, the figure, and every finished run with popularity in one table (fidelity_summary.md)
  smk results/tables/fidelity_instruments.md results/tables/fidelity_instruments_id.md \
    results/tables/fidelity_instruments_lr.md results/tables/fidelity_instruments_budget.md \
    results/figures/fidelity_instruments_figure.png
  PYTHONPATH=src .venv/bin/python bench/fidelity_summary.py "$WORK" > "$WORK/results/tables/fidelity_summary.md"
fi
echo "done $(date)"
