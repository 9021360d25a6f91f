"""Batched greedy generation equals one-at-a-time decoding, and resumes from its cache."""


from alignshift.generation import generate
from alignshift.prompts import format_prompt

QUESTIONS = ["Which country has the best food?", "Should taxes be lower?", "Name a river."]


def prompts(lm):
    return [format_prompt(lm.tokenizer, q, chat=True) for q in QUESTIONS]


def test_batched_equals_one_at_a_time(tiny_lm):
    batched = generate(tiny_lm.model, tiny_lm.tokenizer, prompts(tiny_lm), max_new_tokens=8, batch_size=3)
    single = [generate(tiny_lm.model, tiny_lm.tokenizer, [p], max_new_tokens=8)[0] for p in prompts(tiny_lm)]
    assert batched == single
    assert all(isinstance(a, str) for a in batched)


def test_cache_resumes_without_decoding_again(tiny_lm, tmp_path, monkeypatch):
    cache = tmp_path / "answers.jsonl"
    first = generate(tiny_lm.model, tiny_lm.tokenizer, prompts(tiny_lm)[:2], max_new_tokens=6, cache=cache)
    with open(cache, "a") as fh:
        fh.write('{"key": "torn')  # a write cut off by a kill
    calls = []
    original = tiny_lm.model.generate

    def counting(*args, **kwargs):
        calls.append(kwargs["input_ids"].shape[0])
        return original(*args, **kwargs)

    monkeypatch.setattr(tiny_lm.model, "generate", counting)
    again = generate(tiny_lm.model, tiny_lm.tokenizer, prompts(tiny_lm), max_new_tokens=6, cache=cache)
    assert again[:2] == first
    assert calls == [1]  # only the third prompt was decoded
    changed = generate(tiny_lm.model, tiny_lm.tokenizer, prompts(tiny_lm)[:1], max_new_tokens=7, cache=cache)
    assert calls == [1, 1]  # a different setting is a different key
    assert isinstance(changed[0], str)
