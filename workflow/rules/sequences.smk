"""User sequences: filter, sample, truncate and re-index; leave-one-out split; scaling subsamples; title tokens."""


rule build_sequences:
    input:
        item_table=item_table,
        interaction_table="results/ingest/{dataset}/interactions.parquet",
        image_report=image_report,
    output:
        out_items="results/sequences/{dataset}/items.parquet",
        out_sequences="results/sequences/{dataset}/sequences.parquet",
        stats="results/sequences/{dataset}/stats.json",
    log:
        "logs/build_sequences/{dataset}.log",
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        settings=sequence_settings,
    script:
        "../scripts/build_sequences.py"


rule split_leave_one_out:
    input:
        sequences="results/sequences/{dataset}/sequences.parquet",
    output:
        out_split="results/split/{dataset}/split.parquet",
        stats="results/split/{dataset}/split_stats.json",
    log:
        "logs/split_leave_one_out/{dataset}.log",
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        max_len=lookup(dpath="datasets/{dataset}/max_len", within=config),
    script:
        "../scripts/split_leave_one_out.py"


rule subsample_users:
    input:
        split="results/split/{dataset}/split.parquet",
    output:
        out_split="results/subsample/{dataset}/{fraction}/split.parquet",
    log:
        "logs/subsample_users/{dataset}_{fraction}.log",
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        seed=config["seed"],
    script:
        "../scripts/subsample_users.py"


rule tokenize_titles:
    input:
        item_table="results/sequences/{dataset}/items.parquet",
    output:
        out_npz="results/tokens/{dataset}/{encoder}.npz",
    log:
        "logs/tokenize_titles/{dataset}_{encoder}.log",
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/train.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        tokenizer=tokenizer_location,
        max_tokens=lookup(dpath="encoders/{encoder}/max_tokens", within=config),
    script:
        "../scripts/tokenize_titles.py"
