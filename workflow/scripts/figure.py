from alignshift import figures, jobs

with jobs.logged(snakemake.log[0]):
    figures.draw(snakemake.params.figure, snakemake.input[0], snakemake.output.pdf, snakemake.output.png,
                 snakemake.config)
