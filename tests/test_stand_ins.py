"""The rehearsals' stand-ins (`stand-in:<family>` model ids): built by fetch_model as the
workflow fetches any model, with each family's tokenizer behaviour and chat template."""

import json
from pathlib import Path

import pytest

from alignshift.models.fetch import fetch
from alignshift.models.load import load
from alignshift.models.spec import ModelSpec
from alignshift.stand_ins import families


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Every family fetched once: name -> (manifest, loaded model)."""
    out = {}
    for name, family in families()["families"].items():
        spec = ModelSpec(name=name, id=f"stand-in:{name}", dtype="float32",
                         allow_pickle=family.get("weights") == "pickle",
                         kind=family.get("kind", "causal_lm"))
        manifest = fetch(spec, tmp_path_factory.mktemp(name))
        out[name] = (manifest, load(manifest, spec, device="cpu"))
    return out


def test_every_family_builds_loads_and_records_its_source(built):
    for name, (manifest, lm) in built.items():
        assert manifest["source"] == "stand_in" and manifest["family"] == name
        assert len(manifest["revision"]) == 16
        assert lm.model is not None
        files = {p.name for p in Path(manifest["path"]).iterdir()}
        # families published as pickles are stood in by pickles, so allow_pickle is exercised
        pickled = families()["families"][name].get("weights") == "pickle"
        assert ("pytorch_model.bin" in files) == pickled and ("model.safetensors" in files) != pickled, name


def test_the_lm_head_is_tied_only_where_the_real_family_ties_it(built):
    # Gemma and SmolLM2 tie their LM head to the input embeddings; the 7-9B Llama, Mistral,
    # Qwen, Yi, Baichuan, GLM and OLMo models do not, and PoliTune trains a LoRA on theirs
    tied = {name for name, (_, lm) in built.items()
            if lm.model.get_output_embeddings() is not None
            and lm.model.get_output_embeddings().weight.data_ptr() == lm.model.get_input_embeddings().weight.data_ptr()}
    assert tied == {"gemma", "smollm2"}


def test_a_rebuild_is_the_same_revision_and_each_model_its_own_weights(built, tmp_path):
    manifest = fetch(ModelSpec(name="glm-4", id="stand-in:glm-4"), tmp_path / "again")
    assert manifest["revision"] == built["glm-4"][0]["revision"]
    # another model of the same family (a chat model beside its base) has other weights
    other = fetch(ModelSpec(name="glm-4-chat", id="stand-in:glm-4"), tmp_path / "other")
    assert other["revision"] != manifest["revision"] and other["seed"] != manifest["seed"]


def test_mistral_families_use_mistrals_own_sentencepiece_models(built):
    v1 = built["mistral-v0.1"][1].tokenizer
    v3 = built["mistral-v0.3"][1].tokenizer
    assert len(v1) == 32000 and len(v3) == 32768
    # SentencePiece: a word-start marker, BOS once, byte fallback for a newline
    assert v1.convert_ids_to_tokens(v1("Answer: (A").input_ids) == ["<s>", "\u2581Answer", ":", "\u2581(", "A"]
    assert v1.convert_ids_to_tokens(v1.encode("\n", add_special_tokens=False))[-1] == "<0x0A>"
    # v3's control tokens are single tokens
    assert len(v3.encode("[INST]", add_special_tokens=False)) == 1
    assert built["mistral-v0.3"][0]["wheel"] == "mistral-common==1.13.1"


def test_front_tokens_follow_each_family(built):
    def front(name):
        tok = built[name][1].tokenizer
        text = tok.encode("Hi there", add_special_tokens=False)
        full = tok("Hi there").input_ids
        assert full[len(full) - len(text):] == text  # nothing added after the text
        return tok.convert_ids_to_tokens(full[: len(full) - len(text)])

    assert front("llama-3") == ["<|begin_of_text|>"]
    assert front("qwen2.5") == [] and built["qwen2.5"][1].tokenizer.bos_token is None
    assert front("glm-4") == ["[gMASK]", "<sop>"]
    assert front("llama-2")[0] == "<s>"
    # OLMo-2: nothing in front of a text; its template opens with <|endoftext|>
    assert front("olmo-2") == [] and built["olmo-2"][1].tokenizer.eos_token == "<|endoftext|>"


@pytest.mark.parametrize("name, rendered", [
    ("llama-3", "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
                "<|start_header_id|>assistant<|end_header_id|>\n\n"),
    ("qwen2.5", "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
                "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
    ("glm-4", "[gMASK]<sop><|user|>\nHi<|assistant|>"),
    ("mistral-v0.3", "<s>[INST] Hi[/INST]"),
    ("yi", "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"),
    ("openchat", "<s>GPT4 Correct User: Hi<|end_of_turn|>GPT4 Correct Assistant:"),
    ("olmo-2", "<|endoftext|><|user|>\nHi\n<|assistant|>\n"),
])
def test_chat_templates_render_the_familys_turns(built, name, rendered):
    tok = built[name][1].tokenizer
    assert tok.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False,
                                   add_generation_prompt=True) == rendered
    # the template's special tokens are atomic; AI2's turn markers are text (open-instruct)
    text_markers = {"olmo-2": {"<|user|>", "<|assistant|>"}}.get(name, set())
    for special in ("<|eot_id|>", "<|im_end|>", "<|assistant|>", "[/INST]", "<|end_of_turn|>"):
        if special in rendered:
            assert (len(tok.encode(special, add_special_tokens=False)) == 1) != (special in text_markers), \
                (name, special)


def test_starling_stand_in_is_a_reward_model_in_starlings_layout(built):
    import torch

    manifest, lm = built["starling-rm"]
    state = torch.load(Path(manifest["path"]) / "pytorch_model.bin", weights_only=True)
    assert "v_head.weight" in state and any(k.startswith("transformer.") for k in state)
    ids = lm.tokenizer(["I am from France.", "I am from Peru."], return_tensors="pt", padding=True)
    rewards = lm.model(**ids).logits.squeeze(-1)
    assert rewards.shape == (2,) and rewards[0] != rewards[1]


def test_unknown_family_is_named(tmp_path):
    from alignshift.models.spec import ModelLoadError

    with pytest.raises((ValueError, ModelLoadError), match=r"unknown stand-in family 'llama-9'.*known: \["):
        fetch(ModelSpec(name="x", id="stand-in:llama-9"), tmp_path)
    assert not json.dumps(families()).count("stand-in:llama-9")
