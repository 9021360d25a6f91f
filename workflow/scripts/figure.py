from alignshift import figures, jobs

with jobs.logged(snakemake.log[0]):
    figures.draw(snakemake.wildcards.figure, dict(snakemake.input.items()), snakemake.output.pdf,
                 snakemake.output.png, snakemake.config)
