from pathlib import Path

from alignshift import jobs

with jobs.logged(snakemake.log[0]):
    jobs.fetch_cfmatch(snakemake.wildcards.commit, str(Path(snakemake.output.provenance).parent),
                       local=snakemake.params.local)
