"""Snakemake's own linter finds nothing in the workflow (rules and functions apart,
environment variables declared, no path built with '+')."""

from conftest import REPO, STUDIES, run_snakemake


def test_snakemake_lint_is_clean():
    # the default study, and one whose released models and cfmatch stage add their rules
    for configfile in (REPO / "config" / "config.yaml", STUDIES / "global-representation-released.yaml"):
        result = run_snakemake(REPO, "--lint", configfile=configfile, timeout=300)
        output = result.stdout + result.stderr
        assert result.returncode == 0 and "Lints for" not in output, output[-4000:]
