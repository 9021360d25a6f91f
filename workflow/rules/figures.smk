# Each figure is its own target: snakemake results/figures/<name>.pdf
# (alignshift.figures declares which metrics tables a figure reads, besides the model
# table; its caption is
# workflow/report/<name>.rst).
rule figure:
    input:
        unpack(lambda w: figures.input_paths(w.figure)),
        models=MODEL_TABLE,
    output:
        pdf="results/figures/{figure}.pdf",
        png=report(
            "results/figures/{figure}.png",
            caption="../report/figure.rst",
            category=lambda w: figures.spec(w.figure).category,
        ),
    params:
        code=lambda w: figure_code(w.figure),
        caption=lambda w: Path(workflow.basedir, "workflow", "report", f"{w.figure}.rst").read_text(),
    log:
        "results/logs/figures/{figure}.log",
    benchmark:
        "results/benchmarks/figures/{figure}.tsv"
    conda:
        "../../envs/cpu.yaml"
    script:
        "../scripts/figure.py"
