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
    """Every line of the project's shipped text data."""
    texts = []
    for path in sorted(Path(data_dir).rglob("*")):
        if path.suffix in {".csv", ".jsonl", ".yaml", ".txt"}:
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
