from alignshift import jobs
from alignshift.report import metrics_table_html

with jobs.logged(snakemake.log[0]):
    metrics_table_html(snakemake.input[0], snakemake.output[0])
