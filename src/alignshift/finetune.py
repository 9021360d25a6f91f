"""LoRA SFT and DPO with trl + peft, driven by a YAML recipe.

A recipe (config/recipes/*.yaml) has `method` (sft | dpo), `lora` (peft LoraConfig
keys), `training` (trl SFTConfig / DPOConfig keys), `quantization` (none | 4bit,
QLoRA on CUDA), optionally `format` (prompt_completion | text), `epochs` (that many
passes over the data instead of a fixed `training.max_steps`: the step count is planned
from the prepared data, `alignshift.planning`, and checked again here: `check_steps`)
and, for DPO, `prompt_sharing` (default true: each pair's prompt computed once per forward
pass, `alignshift.prompt_sharing`). The adapter is exported at each configured step to
`<out>/step-<N>/`; the full trainer state (optimizer, scheduler, RNG) is kept in a
state directory keyed by the recipe and data, so a killed run resumes from its last
saved step and a changed recipe never resumes from a stale one.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import os
import shutil
import time
from pathlib import Path

import pandas as pd

from .models.load import load_tokenizer, quantization_config, resolve_device, torch_dtype

from .directions import opposite
from .models.spec import ModelSpec
from .prompts import alpaca
from .provenance import library_versions, stable_hash

log = logging.getLogger(__name__)

def preference_records(stances: pd.DataFrame, direction: str, chat: bool, prompt_format: str = "auto") -> list[dict]:
    """DPO triples toward `direction`: chosen = its stance, rejected = the other."""
    other = opposite(direction)
    return [
        {"prompt": _prompt(r.prompt, chat, prompt_format), "chosen": _answer(getattr(r, direction), chat, prompt_format),
         "rejected": _answer(getattr(r, other), chat, prompt_format)}
        for r in stances.itertuples()
    ]


def sft_records(stances: pd.DataFrame, direction: str, chat: bool, prompt_format: str = "auto") -> list[dict]:
    """Prompt/completion pairs: the chosen answers of one direction."""
    opposite(direction)  # a known direction
    return [{"prompt": _prompt(r.prompt, chat, prompt_format), "completion": _answer(getattr(r, direction), chat, prompt_format)}
            for r in stances.itertuples()]


def text_records(stances: pd.DataFrame, direction: str) -> list[dict]:
    """Plain language-modelling rows: the direction's texts alone, no prompt or template,
    the loss on every token (a recipe's `format: text`; PoliTune's Figure 3 run on raw posts)."""
    opposite(direction)  # a known direction
    return [{"text": t} for t in stances[direction]]


def _prompt(text: str, chat: bool, prompt_format: str = "auto"):
    if prompt_format == "alpaca":  # the Alpaca instruct template, no chat template (as evaluation prompts it)
        return alpaca(text)
    return [{"role": "user", "content": text}] if chat else text + "\nAnswer:"


def _answer(text: str, chat: bool, prompt_format: str = "auto"):
    if prompt_format == "alpaca":  # right after "### Response:\n"
        return text
    return [{"role": "assistant", "content": text}] if chat else " " + text


def released_steps(rows: int, epochs: int, batch_size: int, accumulation: int) -> int:
    """Optimizer steps of `epochs` passes over `rows` as torchtune's recipes count them
    (PoliTune's released code): ceil(rows / batch_size) micro-batches per epoch, of which
    every full group of `accumulation` is one step (a partial group at an epoch's end
    makes no step of its own)."""
    return int(epochs) * (math.ceil(int(rows) / int(batch_size)) // int(accumulation))


def check_steps(recipe: dict, rows: int, steps: list[int] = ()) -> None:
    """The last guard before training: a recipe with `epochs` must carry the step count
    its data gives (`training.max_steps`, set from the run's plan), and the checkpoint
    steps must end at that last step; anything else is a plan that no longer fits the
    data or recipe, and the job stops rather than train another count."""
    training = recipe["training"]
    max_steps = int(training["max_steps"])
    epochs = recipe.get("epochs")
    if epochs is not None:
        batch = int(training.get("per_device_train_batch_size", 8))
        accumulation = int(training.get("gradient_accumulation_steps", 1))
        expected = released_steps(rows, epochs, batch, accumulation)
        if max_steps != expected:
            raise ValueError(
                f"recipe epochs {epochs}: {rows} rows at {batch} x {accumulation} per step give {expected} optimizer "
                f"steps ({epochs} x (ceil({rows}/{batch}) // {accumulation})), but training.max_steps is {max_steps}: "
                f"the run's plan (results/finetune/<run>/plan.json) does not fit its data; plan it again "
                f"(snakemake --forcerun plan_run) instead of training another count")
    if steps and (max(steps) != max_steps or min(steps) < 1):
        raise ValueError(f"checkpoint steps {list(steps)} do not end at training.max_steps {max_steps}")


def training_rows(recipe: dict, stances: pd.DataFrame, direction: str) -> int:
    """How many rows the run trains on: every row of its data, once the columns the
    recipe trains are checked (a phase-1 set has no contrasting answers)."""
    method, form = recipe["method"], recipe.get("format", "prompt_completion")
    if form not in ("prompt_completion", "text"):
        raise ValueError(f"recipe format must be prompt_completion or text, not {form!r}")
    opposite(direction)  # a known direction
    if form == "text" and method != "sft":
        raise ValueError("recipe format: text is for sft (plain language modelling), not dpo")
    # a phase-1 set has no contrasting answers: training on its empty column is a mistake
    used = {"text": [direction], "prompt_completion": ["prompt", direction]}[form]
    used += [opposite(direction)] if method == "dpo" else []
    for column in used:
        if (stances[column].astype(str).str.strip() == "").any():
            raise ValueError(f"training data: column {column!r} has empty texts (a phase-1 set has no "
                             f"contrasting answers: train it with sft toward its own ideology)")
    return len(stances)


def state_key(recipe: dict, data_revision: str, base_revision: str) -> str:
    return stable_hash({"recipe": recipe, "data": data_revision, "base": base_revision})


# what a resume reads: without any of them it would fail, or silently train on from a
# fresh optimizer or schedule (different adapters, exit 0)
RESUME_FILES = ("adapter_model.safetensors", "adapter_config.json", "optimizer.pt", "scheduler.pt",
                "trainer_state.json")
# written into a checkpoint once the trainer has saved all of it: every file and its size
COMPLETE = "complete.json"


def seal_checkpoint(folder: Path) -> None:
    """Mark a saved checkpoint complete, listing its files and sizes (written to a
    temporary name, synced, then renamed: the mark exists whole or not at all)."""
    files = {str(f.relative_to(folder)): f.stat().st_size for f in sorted(folder.rglob("*"))
             if f.is_file() and f.name != COMPLETE}
    tmp = folder / f".{COMPLETE}.tmp"
    with open(tmp, "w") as fh:
        json.dump({"files": files}, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, folder / COMPLETE)


def checkpoint_problem(folder: Path) -> str | None:
    """Why a trainer checkpoint cannot be resumed exactly, or None."""
    mark = folder / COMPLETE
    if not mark.exists():
        return "it was never completed (no complete.json: the job stopped while saving it)"
    try:
        files = json.loads(mark.read_text())["files"]
    except (ValueError, KeyError, TypeError):
        return "its complete.json is unreadable"
    missing = [name for name in RESUME_FILES if name not in files] + [
        name for name in files if not (folder / name).is_file()]
    if missing:
        return f"{', '.join(sorted(set(missing)))} missing"
    changed = [name for name, size in files.items() if (folder / name).stat().st_size != size]
    if changed:
        return f"{', '.join(changed)} changed size since it was saved"
    return None


def checkpoint_step(folder: str | Path) -> int:
    """The global step of a trainer checkpoint folder (`checkpoint-<step>`)."""
    return int(Path(folder).name.removeprefix("checkpoint-"))


def last_checkpoint(state_dir: Path) -> tuple[str | None, list[str]]:
    """The newest trainer checkpoint a resume can continue exactly, and what was set
    aside: a newer checkpoint with a problem is moved to `set-aside/` (kept, never read)
    with a message, and the run resumes from the one before it (or from the start)."""
    found = sorted(state_dir.glob("checkpoint-*"), key=checkpoint_step, reverse=True)
    set_aside = []
    for folder in found:
        problem = checkpoint_problem(folder)
        if problem is None:
            return str(folder), set_aside
        aside = state_dir / "set-aside" / f"{folder.name}-{time.strftime('%Y%m%d-%H%M%S')}"
        aside.parent.mkdir(exist_ok=True)
        os.replace(folder, aside)
        message = f"{folder.name} cannot be resumed exactly ({problem}): set aside to {aside}"
        log.warning(message)
        set_aside.append(message)
    return None, set_aside


def export_adapters(state_dir: Path, out_dir: Path, steps: list[int]) -> None:
    """Copy each step's adapter out of its trainer checkpoint (also the steps saved
    before a resume, whose exports a rerun's clean output directory no longer has)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for step in steps:
        source = state_dir / f"checkpoint-{step}"
        files = [source / "adapter_model.safetensors", source / "adapter_config.json"]
        if not all(f.exists() for f in files):
            raise RuntimeError(f"{source}: no adapter saved at step {step}")
        target = out_dir / f"step-{step}"
        target.mkdir(parents=True, exist_ok=True)
        for f in files:
            shutil.copy2(f, target / f.name)


def preference_lengths(dataset) -> list[int]:
    """Tokens of each tokenized preference row's longer sequence (prompt + longer answer)."""
    return [len(p) + max(len(c), len(r))
            for p, c, r in zip(dataset["prompt_ids"], dataset["chosen_ids"], dataset["rejected_ids"])]


def length_grouped(trainer_class):
    """`trainer_class` whose `train_sampling_strategy: group_by_length` also works for
    preference rows: transformers infers lengths from `input_ids`, which tokenized DPO
    rows lack, and trl drops any precomputed length column before the sampler sees it."""
    class LengthGrouped(trainer_class):
        def _get_train_sampler(self, train_dataset=None):
            dataset = self.train_dataset if train_dataset is None else train_dataset
            if self.args.train_sampling_strategy != "group_by_length" or "chosen_ids" not in dataset.column_names:
                return super()._get_train_sampler(train_dataset)
            from transformers.trainer_pt_utils import LengthGroupedSampler

            # megabatches of the optimizer step's rows sorted by length, as transformers does for input_ids
            return LengthGroupedSampler(self.args.train_batch_size * self.args.gradient_accumulation_steps,
                                        lengths=preference_lengths(dataset))

    return LengthGrouped


def training_records(recipe: dict, stances: pd.DataFrame, direction: str, spec: ModelSpec, tokenizer) -> list[dict]:
    """The trainer's rows: DPO triples, SFT prompt/completion pairs, or (a recipe's
    `format: text`) plain texts; prompts in the model's prompt format."""
    training_rows(recipe, stances, direction)
    method = recipe["method"]
    if recipe.get("format", "prompt_completion") == "text":
        return text_records(stances, direction)
    prompt_format = spec.prompt_format
    chat = spec.chat_template and bool(tokenizer.chat_template) and prompt_format == "auto"
    return (preference_records if method == "dpo" else sft_records)(stances, direction, chat, prompt_format)


# the trl minor release whose internals training patches (the fused LM-head loss and its
# LoRA check here, DPOTrainer._compute_loss / compute_ref_log_probs in prompt_sharing.py)
TRL_TESTED = "1.16"


def check_trl(version: str | None = None) -> None:
    """Stop before training on a trl whose internals may differ from the tested ones,
    where a patch could otherwise silently not apply."""
    import importlib.metadata

    version = version or importlib.metadata.version("trl")
    if version.split(".")[:2] != TRL_TESTED.split("."):
        raise RuntimeError(f"trl {version} is installed; alignshift's training patches trl {TRL_TESTED}'s "
                           f"internals (pyproject.toml pins trl {TRL_TESTED}.*): install it with "
                           f"`pip install -c constraints.txt -e .`")


@contextlib.contextmanager
def _lm_head_adapter_allowed():
    """trl 1.16's trainers refuse a LoRA adapter on the LM head, because their fused
    LM-head loss reads `lm_head.weight` and would never train it. `fuse_output_adapter`
    makes that weight the adapted one, so for its construction the check is lifted (the
    name trl tests against is swapped for a class nothing is an instance of)."""
    from trl.trainer import dpo_trainer, sft_trainer

    class _NoTunerLayer:
        pass

    saved = {m: m.BaseTunerLayer for m in (dpo_trainer, sft_trainer)}
    try:
        for module in saved:
            module.BaseTunerLayer = _NoTunerLayer
        yield
    finally:
        for module, value in saved.items():
            module.BaseTunerLayer = value


def _adapted_weight(layer):
    """The LM head's weight with its active LoRA adapters added: W + scaling * B A
    (differentiable in A and B), or W with the adapters disabled (DPO's reference) or
    merged. The adapter's dropout has no place in a weight and is not applied."""
    base = layer.get_base_layer().weight
    if layer.disable_adapters or layer.merged:
        return base
    deltas = [layer.get_delta_weight(a) for a in layer.active_adapters if a in layer.lora_A]
    return base + sum(deltas).to(base.dtype) if deltas else base


def _tied_head(model) -> bool:
    head, embeddings = model.get_output_embeddings(), model.get_input_embeddings()
    return head is not None and embeddings is not None and head.weight.data_ptr() == embeddings.weight.data_ptr()


def fuse_output_adapter(model) -> bool:
    """Let trl's fused LM-head loss train a LoRA adapter on the LM head (PoliTune's
    released `apply_lora_to_output`): the adapted layer's `weight` becomes W + scaling *
    B A. Its ordinary forward (generation, evaluation) is peft's, unchanged. True if the
    model's LM head carries an adapter."""
    from peft.tuners.lora import LoraLayer

    layer = model.get_output_embeddings()
    if not isinstance(layer, LoraLayer):
        return False
    if not getattr(type(layer), "_fused_output_adapter", False):
        layer.__class__ = type(f"Fused{type(layer).__name__}", (type(layer),),
                               {"weight": property(_adapted_weight), "_fused_output_adapter": True})
    return True


def build_trainer(*, manifest: dict, spec: ModelSpec, recipe: dict, stances: pd.DataFrame, direction: str,
                  state_dir: str | Path, steps: list[int] = ()):
    """The trl trainer (SFT or DPO, LoRA via peft) for one run, saving a full trainer
    checkpoint (adapter, optimizer, scheduler, RNG) at each of `steps`."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, TrainerCallback

    check_trl()
    method = recipe["method"]
    device = resolve_device()
    cuda = device.startswith("cuda")
    dtype = torch_dtype(spec.dtype, device)
    quant = quantization_config(recipe.get("quantization", "none"), dtype) if cuda else None

    tokenizer = load_tokenizer(manifest["path"], spec)
    # `device_map: auto`: the base model spread over every GPU the job holds
    placement = "auto" if spec.device_map == "auto" and cuda else ({"": device} if quant else None)
    model = AutoModelForCausalLM.from_pretrained(
        manifest["path"], dtype=dtype, trust_remote_code=spec.trust_remote_code,
        **({"quantization_config": quant} if quant else {}), **({"device_map": placement} if placement else {}),
    )
    training = dict(recipe["training"])
    # transformers 5 renamed gradient checkpointing to activation checkpointing; a recipe may use either name
    old_name = training.pop("gradient_checkpointing", False)
    checkpointing = bool(training.pop("activation_checkpointing", old_name))
    if quant is not None:
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=checkpointing)
    records = training_records(recipe, stances, direction, spec, tokenizer)
    dataset = Dataset.from_list(records)
    lora = LoraConfig(task_type="CAUSAL_LM", **recipe["lora"])
    save_at = set(steps)

    class SaveAtSteps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in save_at:
                control.should_save = True

        def on_save(self, args, state, control, **kwargs):
            # called once the trainer has written the whole checkpoint (one process seals it)
            if state.is_world_process_zero:
                seal_checkpoint(Path(args.output_dir) / f"checkpoint-{state.global_step}")

    common = dict(
        output_dir=str(state_dir), save_strategy="no", save_only_model=False, report_to="none",
        logging_steps=1, use_cpu=not cuda, dataloader_num_workers=0, disable_tqdm=False,
        # trl defaults to bf16 and gradient checkpointing even on CPU, which made a CPU
        # step 13x slower here; both are on only where they pay (bf16 on CUDA; gradient
        # checkpointing when a recipe asks for it because memory needs it)
        bf16=cuda and dtype == torch.bfloat16, activation_checkpointing=checkpointing,
        # fused AdamW kernels exist on CUDA only
        optim="adamw_torch_fused" if cuda else "adamw_torch",
        # a 'no' save strategy with callback-driven saves keeps every checkpoint asked for
        save_total_limit=None,
    )
    common.update(training)
    if method == "dpo":
        from trl import DPOConfig as Config, DPOTrainer as Trainer

        if recipe.get("prompt_sharing", True):
            from .prompt_sharing import prompt_sharing

            Trainer = prompt_sharing(Trainer)
    elif method == "sft":
        from trl import SFTConfig as Config, SFTTrainer as Trainer
    else:
        raise ValueError(f"recipe method must be sft or dpo, not {method!r}")
    targets = recipe["lora"].get("target_modules")
    output_adapter = isinstance(targets, (list, tuple)) and "lm_head" in targets
    if output_adapter and _tied_head(model):
        # merged for evaluation, an LM-head adapter would also change the input embeddings
        raise ValueError(f"{spec.name}: its LM head shares its weight with the input embeddings "
                         "(tie_word_embeddings), so a LoRA adapter on lm_head would change both when merged; "
                         "remove lm_head from the recipe's lora.target_modules for this model")
    with _lm_head_adapter_allowed() if output_adapter else contextlib.nullcontext():
        trainer = length_grouped(Trainer)(model=model, args=Config(**common), train_dataset=dataset,
                                          processing_class=tokenizer, peft_config=lora, callbacks=[SaveAtSteps()])
    if output_adapter:
        if not fuse_output_adapter(trainer.model):
            raise RuntimeError("recipe lora.target_modules names lm_head, but the trained model's LM head has no adapter")
        # peft would also save the (unchanged) input and output embeddings with every
        # adapter once lm_head is a target: 2 GB per checkpoint for Llama-3-8B
        trainer.model.save_pretrained = functools.partial(trainer.model.save_pretrained, save_embedding_layers=False)
    return trainer


def train(
    *,
    manifest: dict,
    spec: ModelSpec,
    recipe: dict,
    stances: pd.DataFrame,
    direction: str,
    work_dir: str | Path,
    out_dir: str | Path,
    steps: list[int],
    data_revision: str,
) -> dict:
    """Train one run, keeping trainer state under `work_dir`; export the adapter of
    every step in `steps` to `out_dir/step-<N>/`; return the training record."""
    out_dir = Path(out_dir)
    state_dir = Path(work_dir) / f"state-{state_key(recipe, data_revision, manifest['revision'])}"
    # no folder before the trainer saves into it: a job that fails earlier leaves none
    check_steps(recipe, len(stances), steps)
    trainer = build_trainer(manifest=manifest, spec=spec, recipe=recipe, stances=stances, direction=direction,
                            state_dir=state_dir, steps=steps)
    # trl drops a row whose prompt alone fills max_length (no token left to learn from):
    # the planned max_steps still holds, over slightly fewer rows per epoch
    trainer_rows = len(trainer.train_dataset)
    if trainer_rows != len(stances):
        log.warning("trl kept %d of the %d training rows (prompts that fill training.max_length are dropped); "
                    "training still runs the planned %s steps", trainer_rows, len(stances),
                    recipe["training"]["max_steps"])
    method, seed = recipe["method"], int(recipe["training"].get("seed", 0))
    max_steps = int(recipe["training"]["max_steps"])
    device, dtype = str(trainer.model.device), str(trainer.model.dtype).removeprefix("torch.")

    resume, set_aside = last_checkpoint(state_dir)
    if resume:
        log.info("resuming from %s", resume)
    elif set_aside:
        log.warning("no checkpoint can be resumed exactly: training starts again from step 0")
    started = time.time()
    if resume and checkpoint_step(resume) == max_steps:
        # killed after its final checkpoint: nothing left to train (transformers 5.23,
        # resumed at max_steps, trains one step past it)
        from transformers import TrainerState

        trainer.state = TrainerState.load_from_json(str(Path(resume) / "trainer_state.json"))
        metrics = {}
    else:
        metrics = trainer.train(resume_from_checkpoint=resume).metrics
    elapsed = time.time() - started
    if trainer.state.global_step != max_steps:
        raise RuntimeError(f"training stopped at step {trainer.state.global_step}, not at the planned "
                           f"training.max_steps {max_steps}")
    export_adapters(state_dir, out_dir, steps)
    record = {
        "method": method, "direction": direction, "recipe": recipe, "steps": steps, "seed": seed,
        "rows": len(stances), "trainer_rows": trainer_rows, "global_step": trainer.state.global_step,
        "device": device, "dtype": dtype, "resumed_from": resume, "set_aside": set_aside,
        "base_model": spec.name, "base_revision": manifest["revision"], "data_revision": data_revision,
        "train_seconds": elapsed, "metrics": metrics, "log_history": trainer.state.log_history,
        "versions": library_versions(),
    }
    return record
