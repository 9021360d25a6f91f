from pathlib import Path

from alignshift import cfmatch
from alignshift.logs import logged

with logged(snakemake.log[0]):
    cfmatch.fetch_classifier(snakemake.wildcards.commit, Path(snakemake.output.provenance).parent,
                             local=snakemake.params.local)
