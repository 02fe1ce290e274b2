"""Title translation (Adressa: Norwegian -> English) with a persistent, resumable cache."""


rule translate_titles:
    input:
        item_table="results/ingest/{dataset}/items.parquet",
    output:
        out_table="results/translate/{dataset}/items.parquet",
        report="results/translate/{dataset}/translate_report.json",
    log:
        "logs/translate_titles/{dataset}.log",
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=240,
    params:
        settings=translation_settings,
        cache_dir="data/interim/translations",
    script:
        "../scripts/translate_titles.py"
