"""LoRA SFT / DPO: adapters at the configured steps, and a killed run resumes from its
last saved step to the same final adapter as an uninterrupted run."""

import json

import pytest
import torch
import transformers
from safetensors.torch import load_file

from alignshift import data, finetune
from alignshift.models.fetch import fetch
from alignshift.models.spec import ModelSpec
from conftest import REPO

RECIPE = {
    "method": "dpo",
    "quantization": "none",
    "lora": {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": "all-linear"},
    "training": {"learning_rate": 1e-3, "max_steps": 4, "per_device_train_batch_size": 2, "beta": 0.1,
                 "loss_type": ["sigmoid"], "max_length": 96, "seed": 7, "data_seed": 7,
                 "lr_scheduler_type": "constant"},
}


@pytest.fixture(scope="module")
def setup(tiny_model_dir, tmp_path_factory):
    spec = ModelSpec(name="tiny", id=str(tiny_model_dir), chat_template=True, dtype="float32")
    manifest = fetch(spec, tmp_path_factory.mktemp("fetched"), tmp_path_factory.mktemp("hub"))
    stances = data.prepare({"loader": "policy_stances", "path": str(REPO / "data/preferences/policy_stances.jsonl"),
                            "stances": str(REPO / "data/preferences/stances.csv"),
                            "wordings": str(REPO / "data/preferences/wordings.yaml")})
    # open questions and stance statements in several wordings: rows of varied lengths
    return spec, manifest, stances.iloc[::44].head(16).reset_index(drop=True)


def run(setup, work, steps=(2, 4), recipe=RECIPE):
    spec, manifest, stances = setup
    return finetune.train(manifest=manifest, spec=spec, recipe=recipe, stances=stances, direction="left",
                          work_dir=work, out_dir=work / "adapters", steps=list(steps), data_revision="test")


ORIGINAL_TRAINING_STEP = transformers.Trainer.training_step


def kill_during_step_3(monkeypatch) -> None:
    """The trainer dies in the middle of step 3, after step 2's checkpoint is on disk."""
    def dies_at_step_3(self, *args, **kwargs):
        if self.state.global_step == 2:
            raise KeyboardInterrupt("killed")
        return ORIGINAL_TRAINING_STEP(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "training_step", dies_at_step_3)


def count_steps(monkeypatch) -> list[int]:
    """The steps the trainer trains from now on, appended as each starts."""
    trained = []

    def counted(self, *args, **kwargs):
        trained.append(self.state.global_step + 1)
        return ORIGINAL_TRAINING_STEP(self, *args, **kwargs)

    monkeypatch.setattr(transformers.Trainer, "training_step", counted)
    return trained


def adapter(path):
    return load_file(str(path / "adapter_model.safetensors"))


@pytest.mark.parametrize("overrides", [{}, {"train_sampling_strategy": "group_by_length"},
                                       {"precompute_ref_log_probs": True}], ids=["random", "grouped", "precomputed"])
def test_killed_run_resumes_to_the_uninterrupted_adapter(setup, tmp_path, monkeypatch, overrides):
    recipe = {**RECIPE, "training": {**RECIPE["training"], **overrides}}
    whole = run(setup, tmp_path / "whole", recipe=recipe)
    assert whole["resumed_from"] is None
    assert {p.name for p in (tmp_path / "whole" / "adapters").iterdir()} == {"step-2", "step-4"}

    # kill the second run in the middle of step 3, after step 2's checkpoint is on disk
    kill_during_step_3(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run(setup, tmp_path / "killed", recipe=recipe)
    trained = count_steps(monkeypatch)
    resumed = run(setup, tmp_path / "killed", recipe=recipe)
    assert resumed["resumed_from"].endswith("checkpoint-2")
    assert trained == [3, 4]  # the resumed run trained only the steps after its last checkpoint
    for step in (2, 4):
        a = adapter(tmp_path / "whole" / "adapters" / f"step-{step}")
        b = adapter(tmp_path / "killed" / "adapters" / f"step-{step}")
        assert a.keys() == b.keys()
        for name in a:
            torch.testing.assert_close(b[name], a[name], atol=1e-5, rtol=0)
    # training moved the adapter: LoRA B starts at zero
    assert any(a[name].abs().max() > 0 for name in a if "lora_B" in name)


@pytest.fixture(scope="module")
def uninterrupted(setup, tmp_path_factory):
    work = tmp_path_factory.mktemp("uninterrupted")
    run(setup, work, steps=(1, 2, 4))
    return work / "adapters"


@pytest.mark.parametrize("removed", ["optimizer.pt", "scheduler.pt", "adapter_model.safetensors", "complete.json"])
def test_a_checkpoint_missing_a_file_is_set_aside_and_the_run_resumes_from_the_one_before(
        setup, uninterrupted, tmp_path, monkeypatch, removed):
    # killed during step 3: checkpoints 1 and 2 on disk; then one of checkpoint 2's files goes
    kill_during_step_3(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run(setup, tmp_path, steps=(1, 2, 4))
    state = next(tmp_path.glob("state-*"))
    assert json.loads((state / "checkpoint-2" / "complete.json").read_text())["files"]["optimizer.pt"] > 0
    (state / "checkpoint-2" / removed).unlink()
    trained = count_steps(monkeypatch)
    resumed = run(setup, tmp_path, steps=(1, 2, 4))
    # not resumed from the partial checkpoint (a fresh optimizer or schedule would train other
    # adapters, exit 0): from checkpoint 1, to the uninterrupted run's adapters
    assert resumed["resumed_from"].endswith("checkpoint-1") and trained == [2, 3, 4]
    [message] = resumed["set_aside"]
    assert message.startswith("checkpoint-2 cannot be resumed exactly (") and "set aside to" in message
    assert (removed if removed != "complete.json" else "never completed") in message
    [aside] = (state / "set-aside").iterdir()
    assert aside.name.startswith("checkpoint-2-") and (aside / "trainer_state.json").exists()
    for step in (1, 2, 4):
        a, b = adapter(uninterrupted / f"step-{step}"), adapter(tmp_path / "adapters" / f"step-{step}")
        for name in a:
            torch.testing.assert_close(b[name], a[name], atol=1e-5, rtol=0)


def test_a_run_with_no_resumable_checkpoint_starts_again_and_says_so(setup, uninterrupted, tmp_path):
    run(setup, tmp_path, steps=(1, 2, 4))
    state = next(tmp_path.glob("state-*"))
    for step in (1, 2, 4):
        (state / f"checkpoint-{step}" / "scheduler.pt").unlink()
    again = run(setup, tmp_path, steps=(1, 2, 4))
    assert again["resumed_from"] is None and len(again["set_aside"]) == 3
    for step in (1, 2, 4):
        a, b = adapter(uninterrupted / f"step-{step}"), adapter(tmp_path / "adapters" / f"step-{step}")
        for name in a:
            torch.testing.assert_close(b[name], a[name], atol=1e-5, rtol=0)


def test_a_job_that_fails_before_training_leaves_no_state_folder(setup, tmp_path):
    with pytest.raises(ValueError):
        run(setup, tmp_path, recipe={**RECIPE, "method": "ppo"})
    assert not list(tmp_path.glob("state-*"))


def test_precomputed_reference_log_probs_train_the_same_adapter(setup, tmp_path):
    run(setup, tmp_path / "live")
    run(setup, tmp_path / "pre", recipe={**RECIPE, "training": {**RECIPE["training"], "precompute_ref_log_probs": True}})
    live, pre = adapter(tmp_path / "live" / "adapters" / "step-4"), adapter(tmp_path / "pre" / "adapters" / "step-4")
    for name in live:
        torch.testing.assert_close(pre[name], live[name], atol=1e-4, rtol=0)


def test_changed_recipe_never_resumes_from_stale_state(setup, tmp_path):
    run(setup, tmp_path, steps=(2,), recipe={**RECIPE, "training": {**RECIPE["training"], "max_steps": 2}})
    changed = {**RECIPE, "training": {**RECIPE["training"], "max_steps": 2, "learning_rate": 5e-4}}
    record = run(setup, tmp_path, steps=(2,), recipe=changed)
    assert record["resumed_from"] is None
    assert len(list(tmp_path.glob("state-*"))) == 2


def test_sft_records_imitate_one_direction():
    stances = data.prepare({"loader": "policy_stances", "path": str(REPO / "data/preferences/policy_stances.jsonl")})
    left = finetune.sft_records(stances, "left", chat=True)
    right = finetune.preference_records(stances, "right", chat=False)
    assert left[0]["completion"] == [{"role": "assistant", "content": stances.left.iloc[0]}]
    assert right[0]["chosen"] == " " + stances.right.iloc[0] and right[0]["rejected"] == " " + stances.left.iloc[0]
    json.dumps(left)  # records are plain data for datasets.Dataset


def epoch(setup, tmp_path, recipe):
    """One epoch's row order, and its real and padded tokens."""
    spec, manifest, stances = setup
    trainer = finetune.build_trainer(manifest=manifest, spec=spec, recipe=recipe, stances=stances, direction="left",
                                     state_dir=tmp_path)
    order = list(trainer._get_train_sampler())
    masks = [batch["attention_mask"] for batch in trainer.get_train_dataloader()]
    return trainer, order, sum(int(m.sum()) for m in masks), sum(m.numel() for m in masks)


@pytest.mark.parametrize("method", ["dpo", "sft"])
def test_length_grouped_batches_pad_less_and_keep_every_row(setup, tmp_path, method):
    dpo_only = ("beta", "loss_type")
    recipe = {**RECIPE, "method": method,
              "training": {k: v for k, v in RECIPE["training"].items() if method == "dpo" or k not in dpo_only}}
    grouped = {**recipe, "training": {**recipe["training"], "train_sampling_strategy": "group_by_length"}}
    trainer, order, real, padded = epoch(setup, tmp_path, grouped)
    _, random_order, random_real, random_padded = epoch(setup, tmp_path, recipe)
    assert sorted(order) == sorted(random_order) == list(range(16))  # each row once per epoch
    assert real == random_real and padded < random_padded
    if method == "dpo":  # lengths from the tokenized preference rows (transformers cannot infer them)
        lengths = finetune.preference_lengths(trainer.train_dataset)
        assert lengths[order[0]] == max(lengths)  # the longest row leads, as transformers orders groups


def check_prompt_sharing(setup, tmp_path, monkeypatch, *, per_token, loss_tol, grads_close) -> None:
    """Prompt sharing on `setup`'s model (on its device, in its dtype) against trl's own
    forward: the per-token fields within `per_token` (assert_close keywords), the DPO loss
    within `loss_tol`, each LoRA gradient checked by `grads_close(shared, plain)`; and the
    shared path taken for the trainer's policy and reference passes."""
    from trl import DPOTrainer

    from alignshift import prompt_sharing
    from alignshift.prompt_sharing import FIELDS, pair_segments, shared_prompt_forward

    spec, manifest, stances = setup
    trainer = finetune.build_trainer(manifest=manifest, spec=spec, recipe=RECIPE, stances=stances, direction="left",
                                     state_dir=tmp_path)
    batch = {k: v.to(trainer.model.device) for k, v in next(iter(trainer.get_train_dataloader())).items()}
    inner = trainer.model.get_base_model()
    assert prompt_sharing._shareable(inner)
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    segments, prompt_lens = pair_segments(batch["input_ids"], batch["attention_mask"], labels)
    # one row per pair: the prompt once, then both answers
    assert [s.length for s in segments] == [
        int(batch["attention_mask"][i].sum() + batch["attention_mask"][i + len(segments)].sum()) - p
        for i, p in enumerate(prompt_lens)]
    with torch.no_grad():
        plain = inner(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels,
                      fused_lm_head=True)
        shared = shared_prompt_forward(inner, batch["input_ids"], batch["attention_mask"], labels, FIELDS)
    assert torch.equal(shared.label_mask, plain.label_mask)
    assert int(shared.label_mask.sum()) == int(batch["completion_mask"].sum())
    for name in ("log_probs", "entropy", "mean_logits"):
        torch.testing.assert_close(getattr(shared, name), getattr(plain, name), **per_token)
    # the top token agrees wherever the two forwards are not a rounding apart
    assert (shared.is_top1 == plain.is_top1).float().mean() >= (1.0 if per_token["atol"] < 1e-4 else 0.95)

    # the DPO loss and its gradient on every LoRA weight, trl's forward against the shared one;
    # one optimizer step first, so the policy differs from the reference (LoRA B starts at 0)
    trainer.create_optimizer_and_scheduler(num_training_steps=1)
    trainer.compute_loss(trainer.model, batch).backward()
    trainer.optimizer.step()
    shared_calls = []
    monkeypatch.setattr(prompt_sharing, "shared_prompt_forward",
                        lambda *args: shared_calls.append(1) or shared_prompt_forward(*args))
    results = []
    for compute in (lambda: DPOTrainer._compute_loss(trainer, trainer.model, batch, False),
                    lambda: trainer._compute_loss(trainer.model, batch, False)):
        trainer.model.zero_grad()
        loss = compute()
        loss.backward()
        results.append((loss.detach().float(), {n: p.grad.clone() for n, p in trainer.model.named_parameters()
                                                if p.requires_grad}))
    (loss_plain, grads_plain), (loss_shared, grads_shared) = results
    assert len(shared_calls) == 2  # the trainer's policy and reference passes, and only those
    assert loss_plain != pytest.approx(0.6931, abs=1e-3)  # the step moved the policy off the reference
    torch.testing.assert_close(loss_shared, loss_plain, atol=loss_tol, rtol=loss_tol)
    assert grads_shared.keys() == grads_plain.keys()
    grads_close(grads_shared, grads_plain)


def test_prompt_sharing_gives_trls_log_probs_and_gradients(setup, tmp_path, monkeypatch):
    def grads_close(shared, plain):
        for name, grad in plain.items():
            torch.testing.assert_close(shared[name], grad, atol=1e-5, rtol=1e-3)

    check_prompt_sharing(setup, tmp_path, monkeypatch, per_token=dict(atol=2e-5, rtol=1e-5), loss_tol=1e-5,
                         grads_close=grads_close)


def test_prompt_sharing_leaves_to_trl_the_batches_it_cannot_share():
    from alignshift.prompt_sharing import pair_segments

    # [chosen; rejected]: prompt 5 6 7, answers (8 9) and (4), right-padded with 0
    ids = torch.tensor([[5, 6, 7, 8, 9], [5, 6, 7, 4, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]])
    labels = torch.tensor([[-100, -100, -100, 8, 9], [-100, -100, -100, 4, -100]])
    segments, prompt_lens = pair_segments(ids, mask, labels)
    assert prompt_lens == [3]
    assert (segments[0].prompt, segments[0].continuations) == ([5, 6, 7], [(0, [8, 9]), (1, [4])])
    other_prompt = ids.clone()
    other_prompt[1, 1] = 2
    assert pair_segments(other_prompt, mask, labels) is None
    no_answer = labels.clone()
    no_answer[1, 3] = -100  # an answer truncated to nothing
    assert pair_segments(ids, mask, no_answer) is None
    left_padded = (torch.tensor([[5, 6, 7, 8, 9], [0, 5, 6, 7, 4]]), torch.tensor([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1]]))
    assert pair_segments(*left_padded, torch.tensor([[-100, -100, -100, 8, 9], [-100, -100, -100, -100, 4]])) is None


def test_a_run_killed_after_its_last_checkpoint_trains_no_further_step(setup, uninterrupted, tmp_path, monkeypatch):
    # the job died after the trainer sealed its final checkpoint, before the record was written
    run(setup, tmp_path, steps=(1, 2, 4))
    trained = count_steps(monkeypatch)
    again = run(setup, tmp_path, steps=(1, 2, 4))
    assert again["resumed_from"].endswith("checkpoint-4") and trained == [] and again["global_step"] == 4
    for step in (1, 2, 4):
        a, b = adapter(uninterrupted / f"step-{step}"), adapter(tmp_path / "adapters" / f"step-{step}")
        for name in a:
            torch.testing.assert_close(b[name], a[name], atol=1e-5, rtol=0)
