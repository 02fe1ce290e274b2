"""Raw data: synthetic generation (embedded default) and ingest of every raw format."""


rule generate_synthetic:
    output:
        directory("data/synthetic/{dataset}"),
    log:
        "logs/generate_synthetic/{dataset}.log",
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=synthetic_settings,
    script:
        "../scripts/generate_synthetic.py"


rule ingest:
    input:
        raw_dir=raw_dir,
    output:
        item_table="results/ingest/{dataset}/items.parquet",
        interaction_table="results/ingest/{dataset}/interactions.parquet",
        quarantine="results/ingest/{dataset}/quarantine.tsv",
        report="results/ingest/{dataset}/ingest_report.json",
    log:
        "logs/ingest/{dataset}.log",
    benchmark:
        "benchmarks/ingest/{dataset}.tsv"
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        dataset_format=dataset_format,
        options=ingest_options,
    script:
        "../scripts/ingest.py"
