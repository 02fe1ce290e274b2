"""Training: source pre-training and target adaptation, each a run.json read by `python -m transrec.train`."""


rule write_pretrain_config:
    output:
        run=f"{PRETRAIN_DIR}/run.json",
    log:
        "logs/write_run_config/pretrain_{dataset}_{encoder}_{objective}_{seed}.log",
    priority: 10  # on the way to the source pre-training, the critical path
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        run=pretrain_run_config,
    script:
        "../scripts/write_run_config.py"


rule write_adapt_config:
    output:
        run=f"{ADAPT_DIR}/run.json",
    log:
        "logs/write_run_config/adapt_{dataset}_{encoder}_{objective}_{method}_{start}_{seed}.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    params:
        run=adapt_run_config,
    script:
        "../scripts/write_run_config.py"


rule pretrain:
    input:
        unpack(training_inputs),
        run=f"{PRETRAIN_DIR}/run.json",
    output:
        metrics=f"{PRETRAIN_DIR}/metrics.json",
        best=f"{PRETRAIN_DIR}/best.pt",
    log:
        "logs/pretrain/{dataset}_{encoder}_{objective}_{seed}.log",
    benchmark:
        "benchmarks/pretrain/{dataset}_{encoder}_{objective}_{seed}.tsv"
    priority: 10  # the critical path: every adaptation waits for its source model
    conda:
        "../../envs/train.yaml"
    threads: training_threads
    resources:
        mem_mb=16000,
        runtime=1440,
        gpu=training_gpus,
    params:
        launcher=train_launcher,
    shell:
        "{params.launcher} {input.run} --threads {threads} > {log} 2>&1"


rule adapt:
    input:
        unpack(training_inputs),
        run=f"{ADAPT_DIR}/run.json",
        source=source_checkpoint,
    output:
        metrics=f"{ADAPT_DIR}/metrics.json",
        best=f"{ADAPT_DIR}/best.pt",
    log:
        "logs/adapt/{dataset}_{encoder}_{objective}_{method}_{start}_{seed}.log",
    benchmark:
        "benchmarks/adapt/{dataset}_{encoder}_{objective}_{method}_{start}_{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: training_threads
    resources:
        mem_mb=16000,
        runtime=720,
        gpu=training_gpus,
    params:
        launcher=train_launcher,
    shell:
        "{params.launcher} {input.run} --threads {threads} > {log} 2>&1"


rule evaluate_baseline:
    input:
        unpack(baseline_inputs),
    output:
        metrics=f"{BASELINE_DIR}/metrics.json",
    log:
        "logs/evaluate_baseline/{dataset}_{method}_{seed}.log",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        spec=baseline_run_config,
    script:
        "../scripts/evaluate_baseline.py"
