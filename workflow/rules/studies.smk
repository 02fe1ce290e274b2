"""Study outputs: the table of every run and the learning curves."""


rule make_table:
    input:
        metrics=all_metrics,
    output:
        out_csv=report(
            "results/tables/runs.csv",
            caption="../report/runs_table.rst",
            category="Runs",
        ),
        out_md="results/tables/runs.md",
    log:
        "logs/make_table/runs.log",
    conda:
        "../../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/make_table.py"


rule plot_learning_curves:
    input:
        metrics=all_metrics,
    output:
        out_png=report(
            "results/figures/learning_curves.png",
            caption="../report/learning_curves.rst",
            category="Runs",
        ),
        out_pdf="results/figures/learning_curves.pdf",
    log:
        "logs/plot_learning_curves/runs.log",
    conda:
        "../../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/plot_learning_curves.py"
