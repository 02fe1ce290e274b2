#!/usr/bin/env bash
# The CPU fidelity study (docs/fidelity.md) in priority order, niced, 2 runs at a time; stop it any time and rerun:
# Snakemake reuses every finished run. WORK: the working directory (default /work/scratch/fidelity).
set -uo pipefail
cd "$(dirname "$0")/.."
WORK=${WORK:-/work/scratch/fidelity}
mkdir -p "$WORK"
sed "s#^    raw_dir: \.\./#    raw_dir: $(dirname "$PWD")/#" config/instruments.yaml > "$WORK/instruments.yaml"
export HF_HUB_OFFLINE=1
R=results/runs/adapt/amazon_instruments
smk() { nice -n 19 .venv/bin/snakemake --configfile "$WORK/instruments.yaml" --directory "$WORK" --cores 2 --keep-going "$@"; }
runs() { local seeds=$1; shift; for s in $seeds; do for m in "$@"; do echo "$R/minilm/converged/$m/nopt/$s/metrics.json"; done; done; }
ABLATIONS="iisan_no_gates iisan_k2 iisan_k3 iisan_k4 iisan_phm iisan_low_rank houlsby_user lora_user bitfit_user"
echo "phase 1 $(date)"  # the main claims: popularity, frozen, IISAN-text cached, ID SASRec; 3 seeds
smk results/runs/baseline/amazon_instruments/popularity/{42,43,44}/metrics.json \
  $(runs "42 43 44" frozen iisan_text_cached) $R/id/converged/fta/nopt/{42,43,44}/metrics.json
echo "phase 2 $(date)"  # ablations and PEFT in SASRec, seed 42
smk $(runs 42 $ABLATIONS)
echo "phase 3 $(date)"  # ... seeds 43, 44
smk $(runs "43 44" $ABLATIONS)
echo "phase 4 $(date)"  # the tables and the figure (the budgeted in-MiniLM study is left to an explicit target)
smk results/tables/fidelity_instruments.md results/tables/fidelity_instruments_id.md \
  results/figures/fidelity_instruments_figure.png results/tables/runs.md
echo "done $(date)"
