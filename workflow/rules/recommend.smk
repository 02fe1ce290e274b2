"""Use a finished run: every user's top-k items (request results/recommendations/<run under results/runs>/topk.parquet)."""


rule recommend:
    input:
        run="results/runs/{run}/run.json",
        best="results/runs/{run}/best.pt",
        metrics="results/runs/{run}/metrics.json",
    output:
        topk="results/recommendations/{run}/topk.parquet",
    log:
        "logs/recommend/{run}.log",
    wildcard_constraints:
        run="(pretrain|adapt)/.+",
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        settings=recommend_settings,
    script:
        "../scripts/recommend.py"
