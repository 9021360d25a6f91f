"""The packed prefix-sharing scorer agrees with one forward per option."""

import numpy as np
import pytest

import torch

from alignshift.scoring import Prompt, ScoreRequest, encode_prompt, score, split_joint
from reference_scoring import score_brute_force, score_full_sequences

PROMPTS = [
    "<|im_start|>user\nWhich country has the best food?<|im_end|>\n<|im_start|>assistant\nI think",
    "Statement: taxes should be lower.\nAnswer:",
    "<|im_start|>user\nAnswer with A or B.<|im_end|>\n<|im_start|>assistant\n",
]
CONTINUATIONS = [
    (" France", " China", " the United States", " Brazil", " Nigeria", " Japan"),
    (" Strongly agree", " Agree", " Disagree", " Strongly disagree"),
    ("A", " A", "B", " B"),
]


def requests():
    return [ScoreRequest(Prompt(p), c) for p, c in zip(PROMPTS, CONTINUATIONS)]


@pytest.mark.parametrize("max_row_tokens", [1024, 40, 16])
def test_scorer_matches_brute_force(tiny_lm, max_row_tokens):
    # 1024 packs all prompts in one row; 40 and 16 split continuations of a prompt
    # across rows and rows across forwards
    fast = score(tiny_lm.model, tiny_lm.tokenizer, requests(), max_row_tokens=max_row_tokens,
                 max_batch_tokens=2 * max_row_tokens)
    slow = score_brute_force(tiny_lm.model, tiny_lm.tokenizer, requests())
    for f, s, conts in zip(fast, slow, CONTINUATIONS):
        assert len(f.logprob_sum) == len(conts)
        np.testing.assert_allclose(f.logprob_sum, s.logprob_sum, atol=1e-4)
        np.testing.assert_array_equal(f.n_tokens, s.n_tokens)
        assert np.all(f.logprob_sum < 0)


def test_full_sequences_batched_equals_brute_force(tiny_lm):
    batched = score_full_sequences(tiny_lm.model, tiny_lm.tokenizer, requests(), batch_size=5)
    slow = score_brute_force(tiny_lm.model, tiny_lm.tokenizer, requests())
    for b, s in zip(batched, slow):
        np.testing.assert_allclose(b.logprob_sum, s.logprob_sum, atol=1e-4)


def test_token_counts_and_mean(tiny_lm):
    tok = tiny_lm.tokenizer
    result = score(tiny_lm.model, tok, requests())[0]
    expected = [len(tok(c, add_special_tokens=False).input_ids) for c in CONTINUATIONS[0]]
    assert result.n_tokens.tolist() == expected
    np.testing.assert_allclose(result.logprob_mean, result.logprob_sum / np.array(expected))


def test_prompt_gets_bos_once():
    class Tok:
        bos_token_id = 1

        def __call__(self, text, add_special_tokens=True):
            ids = [ord(c) for c in text]
            return type("E", (), {"input_ids": ([1] if add_special_tokens else []) + ids})()

    tok = Tok()
    assert encode_prompt(tok, "ab") == [1, 97, 98]
    assert encode_prompt(tok, "\x01ab") == [1, 97, 98]


# SentencePiece-style prompts of the released tasks (Ryan, Held, Yang 2024): the
# continuation's first characters join the prompt's last word ("be (" + "A)"), follow a
# newline, or merge with a trailing space ("is: " + "(A)" -> "▁(" | "A", ")").
SP_PROMPTS = [
    "Assistant: If I had to select one of the options, my answer would be (",
    "Choices: \n(A) yes\n(B) no\nBased on the choices the answer is: ",
    "<s>[INST] Which country you visited disappointed you the most? [/INST]",
    "Transcript: \"Speaker0: oh\"\n\nSecret Word:",
]
SP_CONTINUATIONS = [
    ("A)", "B)", "C)", "D)"),
    ("(A)", "(B)", "(C)", "(D)"),
    (" The United States of America", " France", " the Gambia", " Morocco"),
    ("Podium", " Podium", "\nPodium"),
]


def released_scores(model, tok, prompt: str, continuation: str) -> tuple[float, list[int]]:
    """What the released code computes: encode(prompt + answer) with the tokenizer's
    special tokens, the first len(encode(prompt)) positions masked; the summed
    log-probability of the rest and those token ids. Where the prompt's text starts
    with "<s>" the released code has two BOS tokens; the project keeps one (design:
    BOS exactly once), so one is dropped here too."""
    whole = tok(prompt + continuation).input_ids
    p = len(tok(prompt).input_ids)
    if whole[:2] == [tok.bos_token_id] * 2:
        whole, p = whole[1:], p - 1
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([whole])).logits[0].double()
    lp = torch.log_softmax(logits[:-1], dim=-1).gather(-1, torch.tensor(whole[1:])[:, None]).squeeze(-1)
    return float(lp[p - 1:].sum()), whole[p:]


def test_sentencepiece_scored_tokens_are_the_joint_ones(sp_tokenizer):
    tok = sp_tokenizer
    pieces = tok.convert_ids_to_tokens
    # alone, "A)" starts a word; after "(" it does not: the joint tokens are scored
    assert pieces(tok("A)", add_special_tokens=False).input_ids) == ["\u2581A", ")"]
    _, pairs = split_joint(tok, SP_PROMPTS[0], ["A)"])
    assert pieces(pairs[0][1]) == ["A", ")"]
    # a trailing space merges with "(": split by the prompt's token count (the released
    # split), so "\u2581(" is conditioned on, never scored, and the prefix is not the prompt's
    prompt_ids, pairs = split_joint(tok, SP_PROMPTS[1], ["(A)"])
    assert pieces(prompt_ids[-1:]) == ["\u2581"]
    assert pieces(pairs[0][0][-1:]) == ["\u2581("]
    assert pieces(pairs[0][1]) == ["A", ")"]
    assert pairs[0][0][:-1] == prompt_ids[:-1]
    # BOS once: the template's "<s>" is the BOS, the tokenizer adds none on top
    prompt_ids, pairs = split_joint(tok, SP_PROMPTS[2], [" France"])
    assert prompt_ids[:2] == [tok.bos_token_id, tok.convert_tokens_to_ids("[")]
    assert pieces(pairs[0][1])[0] == "\u2581F"
    # a continuation right after ":" with no space has no word-start marker
    _, pairs = split_joint(tok, SP_PROMPTS[3], ["Podium", " Podium"])
    assert not pieces(pairs[0][1])[0].startswith("\u2581")
    assert pieces(pairs[1][1])[0].startswith("\u2581")


@pytest.mark.parametrize("max_row_tokens", [1024, 48])
def test_packed_joint_tokenization_matches_released_scoring(sp_lm, max_row_tokens):
    model, tok = sp_lm
    reqs = [ScoreRequest(Prompt(p), c) for p, c in zip(SP_PROMPTS, SP_CONTINUATIONS)]
    fast = score(model, tok, reqs, max_row_tokens=max_row_tokens, max_batch_tokens=2 * max_row_tokens)
    slow = score_brute_force(model, tok, reqs)
    for f, s, prompt, conts in zip(fast, slow, SP_PROMPTS, SP_CONTINUATIONS):
        expected = [released_scores(model, tok, prompt, c) for c in conts]
        np.testing.assert_allclose(f.logprob_sum, [e[0] for e in expected], atol=1e-4)
        np.testing.assert_allclose(s.logprob_sum, [e[0] for e in expected], atol=1e-4)
        assert f.n_tokens.tolist() == [len(e[1]) for e in expected] == s.n_tokens.tolist()


def test_continuation_without_tokens_of_its_own_is_an_error(sp_tokenizer):
    # "Secret Word" alone vs "Secret Word:" joined: a continuation that only completes
    # the prompt's last piece leaves nothing to score
    with pytest.raises(ValueError, match="no tokens of its own"):
        split_joint(sp_tokenizer, "is:", [""])


@pytest.fixture(scope="module")
def bpe_tokenizer():
    from alignshift.stand_ins import corpus, train_tokenizer
    from conftest import REPO

    return train_tokenizer(corpus(REPO / "data"))


@pytest.mark.parametrize("kind", ["bpe", "sentencepiece"])
def test_joint_split_equals_tokenizing_the_whole_text(kind, bpe_tokenizer, sp_tokenizer):
    """The scorer re-tokenizes only the prompt's last tokens with each continuation; on
    prompts cut anywhere in real text (mid-word, after a space or newline, after
    template markup) that equals tokenizing prompt + continuation whole and splitting
    at the prompt's token count (the released procedure)."""
    from alignshift.scoring import _prompt_tail
    from alignshift.stand_ins import corpus
    from conftest import REPO

    tok = bpe_tokenizer if kind == "bpe" else sp_tokenizer
    rng = np.random.default_rng(0)
    texts = [t for t in corpus(REPO / "data") if len(t) > 40]
    conts = ["(A)", "A)", " A", "A", " the United States", "\nAnswer:", "  two spaces", ",", "ing", "'s", " 45 million"]
    tails = {}
    used_tail = 0
    for i in range(60):
        text = texts[int(rng.integers(len(texts)))]
        prompt = text[: int(rng.integers(10, len(text)))] + ["", " ", "\n", ": ", " ("][i % 5]
        if i % 7 == 0:
            prompt = tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                             add_generation_prompt=True)
        prompt_ids = encode_prompt(tok, prompt)
        for c in conts:
            whole = encode_prompt(tok, prompt + c)
            if len(whole) <= len(prompt_ids):  # e.g. "... " + "A" -> "... A": nothing of its own to score
                with pytest.raises(ValueError, match="no tokens of its own"):
                    split_joint(tok, prompt, [c], tails=tails)
                continue
            own_ids, [(prefix, ids)] = split_joint(tok, prompt, [c], tails=tails)
            assert own_ids == prompt_ids
            assert prefix + ids == whole, (prompt[-20:], c)
            assert len(prefix) == len(prompt_ids)
        used_tail += _prompt_tail(tok.backend_tokenizer, prompt, tok(prompt, add_special_tokens=False).input_ids,
                                  conts[0])[0] > 0
    assert used_tail > 40  # the fast path is the usual one


def test_joint_split_without_a_fast_tokenizer_tokenizes_whole_texts(sp_tokenizer):
    class Slow:  # no backend_tokenizer: every prompt + continuation is tokenized whole
        bos_token_id = sp_tokenizer.bos_token_id

        def __call__(self, text, add_special_tokens=True):
            return sp_tokenizer(text, add_special_tokens=add_special_tokens)

    prompt = "Based on the choices the answer is: "
    assert split_joint(Slow(), prompt, ["(A)", "(B)"]) == split_joint(sp_tokenizer, prompt, ["(A)", "(B)"])
