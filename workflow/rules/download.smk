"""Public data: each `source: download` dataset's release fetched into data/raw/<dataset> for the ingest stage."""


rule download:
    output:
        raw_dir=directory("data/raw/{dataset}"),
        report="results/download/{dataset}/download.json",
        image_failures="results/download/{dataset}/image_failures.tsv",
    log:
        "logs/download/{dataset}.log",
    wildcard_constraints:
        dataset=DOWNLOADED,
    conda:
        "../../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=720,
    params:
        settings=download_settings,
        cache_dir="data/downloads/{dataset}",  # kept between attempts: partial files resume
    script:
        "../scripts/download.py"
