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


rule make_study_table:
    input:
        metrics=study_metrics,
    output:
        out_csv=report(
            "results/tables/{study}.csv",
            caption="../report/study.rst",
            category="Studies",
            subcategory="{study}",
        ),
        out_md="results/tables/{study}.md",
        out_tex="results/tables/{study}.tex",
    log:
        "logs/make_study_table/{study}.log",
    conda:
        "../../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        study=study_spec,
        method_kinds=method_kinds,
        modalities=encoder_modalities,
    script:
        "../scripts/make_study_table.py"


rule plot_study_figure:
    input:
        metrics=study_metrics,
    output:
        out_png=report(
            "results/figures/{study}.png",
            caption="../report/study.rst",
            category="Studies",
            subcategory="{study}",
        ),
        out_pdf="results/figures/{study}.pdf",
    log:
        "logs/plot_study_figure/{study}.log",
    conda:
        "../../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        study=study_spec,
        method_kinds=method_kinds,
        modalities=encoder_modalities,
    script:
        "../scripts/plot_study_figure.py"


rule make_summary:
    input:
        metrics=all_metrics,
    output:
        out_md=report(
            "results/tables/summary.md",
            caption="../report/summary.rst",
            category="Runs",
        ),
    log:
        "logs/make_summary/summary.log",
    conda:
        "../../envs/plots.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        experiments=summary_experiments,
        methods=summary_methods,
        encoders=summary_encoders,
    script:
        "../scripts/make_summary.py"
