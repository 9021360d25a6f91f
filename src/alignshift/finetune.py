"""LoRA SFT and DPO with trl + peft, driven by a YAML recipe.

A recipe (config/recipes/*.yaml) has `method` (sft | dpo), `lora` (peft LoraConfig
keys), `training` (trl SFTConfig / DPOConfig keys) and `quantization` (none | 4bit,
QLoRA on CUDA). The adapter is exported at each configured step to
`<out>/step-<N>/`; the full trainer state (optimizer, scheduler, RNG) is kept in a
state directory keyed by the recipe and data, so a killed run resumes from its last
saved step and a changed recipe never resumes from a stale one.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pandas as pd

from .models.load import load_tokenizer, quantization_config, resolve_device, torch_dtype

from .models.spec import ModelSpec
from .provenance import library_versions, stable_hash

log = logging.getLogger(__name__)

DIRECTIONS = ("left", "right")


def preference_records(stances: pd.DataFrame, direction: str, chat: bool) -> list[dict]:
    """DPO triples toward `direction`: chosen = its stance, rejected = the other."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    other = DIRECTIONS[1 - DIRECTIONS.index(direction)]
    return [
        {"prompt": _prompt(r.prompt, chat), "chosen": _answer(getattr(r, direction), chat),
         "rejected": _answer(getattr(r, other), chat)}
        for r in stances.itertuples()
    ]


def sft_records(stances: pd.DataFrame, direction: str, chat: bool) -> list[dict]:
    """Prompt/completion pairs: the chosen answers of one direction."""
    return [{"prompt": p["prompt"], "completion": p["chosen"]} for p in preference_records(stances, direction, chat)]


def _prompt(text: str, chat: bool):
    return [{"role": "user", "content": text}] if chat else text + "\nAnswer:"


def _answer(text: str, chat: bool):
    return [{"role": "assistant", "content": text}] if chat else " " + text


def state_key(recipe: dict, data_revision: str, base_revision: str) -> str:
    return stable_hash({"recipe": recipe, "data": data_revision, "base": base_revision})


def last_checkpoint(state_dir: Path) -> str | None:
    """The newest complete trainer checkpoint (trainer_state.json is written last)."""
    done = [p for p in state_dir.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return str(max(done, key=lambda p: int(p.name.split("-")[1]))) if done else None


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


def build_trainer(*, manifest: dict, spec: ModelSpec, recipe: dict, stances: pd.DataFrame, direction: str,
                  state_dir: str | Path, steps: list[int] = ()):
    """The trl trainer (SFT or DPO, LoRA via peft) for one run, saving a full trainer
    checkpoint (adapter, optimizer, scheduler, RNG) at each of `steps`."""
    import torch
    from datasets import Dataset
    from peft import LoraConfig, prepare_model_for_kbit_training
    from transformers import AutoModelForCausalLM, TrainerCallback

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
    chat = spec.chat_template and bool(tokenizer.chat_template)
    records = (preference_records if method == "dpo" else sft_records)(stances, direction, chat)
    dataset = Dataset.from_list(records)
    lora = LoraConfig(task_type="CAUSAL_LM", **recipe["lora"])
    save_at = set(steps)

    class SaveAtSteps(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step in save_at:
                control.should_save = True

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
    elif method == "sft":
        from trl import SFTConfig as Config, SFTTrainer as Trainer
    else:
        raise ValueError(f"recipe method must be sft or dpo, not {method!r}")
    return length_grouped(Trainer)(model=model, args=Config(**common), train_dataset=dataset,
                                   processing_class=tokenizer, peft_config=lora, callbacks=[SaveAtSteps()])


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
    state_dir.mkdir(parents=True, exist_ok=True)
    trainer = build_trainer(manifest=manifest, spec=spec, recipe=recipe, stances=stances, direction=direction,
                            state_dir=state_dir, steps=steps)
    method, seed = recipe["method"], int(recipe["training"].get("seed", 0))
    device, dtype = str(trainer.model.device), str(trainer.model.dtype).removeprefix("torch.")

    resume = last_checkpoint(state_dir)
    if resume:
        log.info("resuming from %s", resume)
    started = time.time()
    result = trainer.train(resume_from_checkpoint=resume)
    elapsed = time.time() - started
    export_adapters(state_dir, out_dir, steps)
    record = {
        "method": method, "direction": direction, "recipe": recipe, "steps": steps, "seed": seed,
        "device": device, "dtype": str(dtype).removeprefix("torch."), "resumed_from": resume,
        "base_model": spec.name, "base_revision": manifest["revision"], "data_revision": data_revision,
        "train_seconds": elapsed, "metrics": result.metrics, "log_history": trainer.state.log_history,
        "versions": library_versions(),
    }
    return record
