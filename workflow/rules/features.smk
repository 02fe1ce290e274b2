"""Hidden-state stores: every item's first-token vectors of a frozen backbone, computed once per (dataset, encoder)."""


rule build_feature_store:
    input:
        unpack(feature_store_inputs),  # common.smk: sequence items, the item content, a random encoder's weights
    output:
        store=directory("results/features/{dataset}/{encoder}"),
    log:
        "logs/build_feature_store/{dataset}_{encoder}.log",
    benchmark:
        "benchmarks/build_feature_store/{dataset}_{encoder}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=1,
    params:
        settings=feature_store_settings,  # only this encoder's modality, location and batch size
        work_dir="data/interim/features",
    script:
        "../scripts/build_feature_store.py"
