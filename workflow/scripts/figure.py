from alignshift import figures, jobs

with jobs.logged(snakemake.log[0]):
    tables = {name: path for name, path in snakemake.input.items() if name != "models"}
    figures.draw(snakemake.wildcards.figure, tables, snakemake.input.models, snakemake.output.pdf,
                 snakemake.output.png)
