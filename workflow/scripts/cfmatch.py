# Runs in envs/cfmatch.yaml, which does not install alignshift (its pins conflict with
# qa-metrics'): the package's light modules are imported from the source tree.
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parents[1] / "src"))

from alignshift import cfmatch  # noqa: E402
from alignshift.logs import logged  # noqa: E402

with logged(snakemake.log[0]):
    cfmatch.judge(snakemake.input.scores, Path(snakemake.input.classifier).parent, snakemake.output[0])
