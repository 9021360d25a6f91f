"""Trainer throughput: one LoRA SFT and one LoRA DPO step of the project's trainer
(trl + peft as configured by alignshift.finetune) against a bare forward+backward+
optimizer step of the same batch through the same LoRA model, in one run.

For DPO the bare step is one forward+backward over the concatenated chosen and
rejected sequences (what a DPO step cannot do with less); the trainer's step adds the
reference pass through the disabled adapter (absent with precomputed reference
log-probs) and the loss. `--trl-defaults` also times trl's own defaults (bf16 and
gradient checkpointing, even on CPU), the "before" of docs/benchmarks.md.

Model: a fetched model (`--manifest`, real weights and tokenizer, the project's
preference data) or random weights at a real shape (`--shape`, bf16 on CUDA, random
token ids at `--seq` tokens).

  python benchmarks/training.py --manifest resources/models/smollm2-135m-instruct/manifest.json
  python benchmarks/training.py --shape benchmarks/shapes/llama-2-7b.json --seq 512 --batch 4
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
import torch
import yaml

from alignshift import data
from alignshift.finetune import build_trainer
from alignshift.models.spec import ModelSpec
from common import (commit, device_name, forward_flops, param_counts, peak_flops, peak_memory_gb, timed,
                    training_flops, write_json)

ROOT = Path(__file__).resolve().parents[1]


def shape_model(shape_path: str, out_dir: Path) -> dict:
    """A random model at a real shape, written as a local model with a tiny tokenizer
    (once: a later run at the same shape reuses it)."""
    from alignshift.stand_ins import random_model, train_tokenizer, corpus

    cfg = json.loads(Path(shape_path).read_text())
    written = out_dir / "shape.json"
    if not (written.exists() and json.loads(written.read_text()) == cfg):
        tok = train_tokenizer(corpus(ROOT / "data"))
        cuda = torch.cuda.is_available()
        with torch.device("cuda" if cuda else "cpu"):  # a 7B model's random init takes minutes on the CPU
            random_model({**cfg, "vocab_size": cfg.get("vocab_size", 32000)}, tok, out_dir,
                         dtype=torch.bfloat16 if cuda else torch.float32)
        written.write_text(json.dumps(cfg))
    return {"name": Path(shape_path).stem, "path": str(out_dir), "revision": "random",
            "spec": {"name": Path(shape_path).stem, "id": str(out_dir), "dtype": "auto", "chat_template": True}}


def random_stances(n: int, seq: int, vocab_words: list[str]) -> pd.DataFrame:
    """Preference rows whose prompt and answers are about seq/2 and seq/4 tokens (the
    stand-in tokenizer writes a word in about 2.6 tokens): a row fits `seq`, none is dropped."""
    g = torch.Generator().manual_seed(0)

    def words(k):
        return " ".join(vocab_words[i] for i in torch.randint(len(vocab_words), (k,), generator=g).tolist())

    return pd.DataFrame([{"id": f"r{i}", "axis": "economic", "prompt": words(seq // 5), "left": words(seq // 10),
                          "right": words(seq // 10)} for i in range(n)])


def study_data(with_statements: bool) -> dict:
    """The policy_stances dataset entry: the open questions, or the default study's entry."""
    if with_statements:
        return yaml.safe_load((ROOT / "config/config.yaml").read_text())["datasets"]["policy_stances"]
    return {"loader": "policy_stances", "path": str(ROOT / "data/preferences/policy_stances.jsonl")}


def bare_step(model, optimizer, batch):
    """Forward+backward of the batch through the LoRA model, then the optimizer step."""
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100) if "completion_mask" in batch \
        else batch["labels"]
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels)
    out.loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def trainer_step(trainer, optimizer, batch):
    trainer.training_step(trainer.model, batch)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)


def padding(trainer, train: bool) -> dict:
    """Real and padded tokens over one epoch of the trainer's batches, and with `train`
    the seconds that epoch's training steps take."""
    real = padded = batches = 0
    for batch in trainer.get_train_dataloader():
        mask = batch["attention_mask"]
        real, padded, batches = real + int(mask.sum()), padded + mask.numel(), batches + 1
    row = {"real_tokens": real, "padded_tokens": padded, "padding": 1 - real / padded}
    if train:
        trainer.args.max_steps = batches
        row["epoch_seconds"] = timed(trainer.train)[1]
    return row


def step_work(method: str, trainer, batch, counts) -> tuple[int, float]:
    """Tokens one pass of the step computes, and the step's FLOPs (common.py): a trainer
    sharing prompts computes each pair's prompt once and projects only the positions that
    predict an answer token; trl's layout computes (and projects) both rows in full; a DPO
    trainer adds the reference's forward unless its log-probs were precomputed. `trainer`
    None: the bare step, one forward+backward over the batch's rows."""
    from alignshift.prompt_sharing import pair_segments

    tokens = projected = int(batch["attention_mask"].sum())
    dpo = method == "dpo" and trainer is not None
    if dpo and hasattr(trainer, "_sharing"):
        labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
        layout = pair_segments(batch["input_ids"], batch["attention_mask"], labels)
        if layout is not None:
            tokens, projected = sum(s.length for s in layout[0]), int(batch["completion_mask"].sum())
    flops = training_flops(counts, tokens, projected)
    if dpo and not trainer.args.precompute_ref_log_probs:
        flops += forward_flops(counts, tokens, projected)
    return tokens, flops


def measure(label, fn, batch, repeats, work, peak):
    fn(batch)  # warm-up (allocations, kernel choice)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    seconds = min(timed(lambda: fn(batch))[1] for _ in range(repeats))
    tokens, flops = work
    row = {"step": label, "seconds": seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
           "flops": flops, "mfu": flops / seconds / peak, "peak_memory_gb": peak_memory_gb()}
    print(f"{label:55s} {seconds:7.2f} s  {row['tokens_per_s']:8.0f} tok/s  MFU {row['mfu']:6.1%}  "
          f"peak {row['peak_memory_gb']:.1f} GB", flush=True)
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest")
    src.add_argument("--shape")
    ap.add_argument("--method", choices=["sft", "dpo"], nargs="+", default=["sft", "dpo"])
    ap.add_argument("--batch", type=int, default=None, help="per-device batch (default: the recipe's)")
    ap.add_argument("--seq", type=int, default=512, help="sequence length with --shape")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--trl-defaults", action="store_true", help="also time trl's defaults (bf16, grad. checkpointing)")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--padding", action="store_true",
                    help="only count an epoch's padding with random vs length-grouped batches")
    ap.add_argument("--train-epoch", action="store_true", help="with --padding, also time the epoch's training")
    ap.add_argument("--study-data", action="store_true",
                    help="the default study's rows (open questions and every stance statement in every wording) "
                         "instead of the open questions alone")
    ap.add_argument("--quantization", choices=["none", "4bit"], default="none",
                    help="4bit: QLoRA (the base model in 4 bits through bitsandbytes; CUDA only)")
    ap.add_argument("--out", default="results/benchmarks/training.json")
    args = ap.parse_args()

    if args.manifest:
        manifest = json.loads(Path(args.manifest).read_text())
        stances = data.prepare(study_data(args.study_data))
    else:
        manifest = shape_model(args.shape, Path(args.out).parent / "shape-models" / Path(args.shape).stem)
        stances = random_stances(64, args.seq, [w for w in " ".join(data.prepare(
            {"loader": "policy_stances", "path": str(ROOT / "data/preferences/policy_stances.jsonl")}).left).split()])
    spec = ModelSpec.from_dict(manifest["spec"])
    device = "cuda" if torch.cuda.is_available() else "cpu"
    peak = peak_flops(device, args.peak_tflops)
    report = {"model": manifest["name"], "device": device_name(), "threads": torch.get_num_threads(),
              "quantization": args.quantization, "peak_tflops": peak / 1e12, "commit": commit(), "results": []}
    # label: (recipe keys, training keys) over the recipe's
    variants = {"alignshift trainer (trl + peft)": ({}, {})}
    if args.trl_defaults:
        variants["trl defaults (bf16, gradient checkpointing)"] = ({}, {"bf16": True, "gradient_checkpointing": True})
    for method in args.method:
        recipe = yaml.safe_load((ROOT / f"config/recipes/{method}-lora.yaml").read_text())
        recipe["quantization"] = args.quantization
        timed_variants = dict(variants)
        if method == "dpo":  # trl's own forward: prompt + chosen and prompt + rejected as two sequences
            timed_variants["alignshift trainer, prompt_sharing: false"] = ({"prompt_sharing": False}, {})
        if args.batch:
            recipe["training"]["per_device_train_batch_size"] = args.batch
        if args.shape:
            recipe["training"]["max_length"] = args.seq
        if args.padding:
            for strategy in ("random", "group_by_length"):
                recipe_s = {**recipe, "training": {**recipe["training"], "train_sampling_strategy": strategy}}
                trainer = build_trainer(manifest=manifest, spec=spec, recipe=recipe_s, stances=stances,
                                        direction="left", state_dir=Path(args.out).parent / "trainer-state")
                row = {"method": method, "sampling": strategy, **padding(trainer, args.train_epoch)}
                print(f"{method}: {strategy:16s} {row['real_tokens']:7d} real / {row['padded_tokens']:7d} padded "
                      f"tokens per epoch ({row['padding']:.1%} padding)"
                      + (f", trained in {row['epoch_seconds']:.1f} s" if args.train_epoch else ""), flush=True)
                report["results"].append(row)
            continue
        batch = None
        for label, (keys, overrides) in timed_variants.items():
            recipe_v = {**recipe, **keys, "training": {**recipe["training"], **overrides}}
            trainer = build_trainer(manifest=manifest, spec=spec, recipe=recipe_v, stances=stances,
                                    direction="left", state_dir=Path(args.out).parent / "trainer-state")
            trainer.create_optimizer()
            trainer.current_gradient_accumulation_steps = 1  # set by trainer.train() otherwise
            if overrides.get("gradient_checkpointing"):
                trainer.model.gradient_checkpointing_enable()
            model = trainer.model.train()
            batch = batch or {k: v.to(model.device) for k, v in next(iter(trainer.get_train_dataloader())).items()}
            counts = param_counts(model)
            if not keys and not overrides:  # the bare step once, beside the trainer as configured
                report["results"].append({"method": method, **measure(
                    f"{method}: bare forward+backward+optimizer", lambda b: bare_step(model, trainer.optimizer, b),
                    batch, args.repeats, step_work(method, None, batch, counts), peak)})
            report["results"].append({"method": method, **measure(
                f"{method}: {label}", lambda b: trainer_step(trainer, trainer.optimizer, b), batch,
                1 if overrides else args.repeats, step_work(method, trainer, batch, counts), peak)})
            write_json(args.out, report)
            del trainer, model
    write_json(args.out, report)


if __name__ == "__main__":
    sys.exit(main())
