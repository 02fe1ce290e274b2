"""Image store: every item image resized into one LMDB (resumable), verified; random image encoders for offline runs."""


rule build_lmdb:
    input:
        item_table="results/ingest/{dataset}/items.parquet",
        raw_dir=raw_dir,
    output:
        lmdb=directory("results/images/{dataset}/images.lmdb"),
        report="results/images/{dataset}/image_report.tsv",
    log:
        "logs/build_lmdb/{dataset}.log",
    benchmark:
        "benchmarks/build_lmdb/{dataset}.tsv"
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=120,
    params:
        settings=image_settings,
        work_dir="data/interim/lmdb",
    script:
        "../scripts/build_lmdb.py"


rule verify_lmdb:
    input:
        lmdb="results/images/{dataset}/images.lmdb",
        item_table="results/ingest/{dataset}/items.parquet",
        report="results/images/{dataset}/image_report.tsv",
    output:
        out_json="results/images/{dataset}/verify.json",
    log:
        "logs/verify_lmdb/{dataset}.log",
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        settings=image_settings,
    script:
        "../scripts/verify_lmdb.py"


rule make_random_encoder:
    output:
        directory("results/encoders/{encoder}"),
    log:
        "logs/make_random_encoder/{encoder}.log",
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        spec=random_encoder_spec,
        seed=config.get("seed", 42),
    script:
        "../scripts/make_random_encoder.py"
