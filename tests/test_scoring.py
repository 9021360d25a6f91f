"""The packed prefix-sharing scorer agrees with one forward per option."""

import numpy as np
import pytest

from alignshift.scoring import ScoreRequest, encode_prompt, score, score_brute_force, score_full_sequences

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
    return [ScoreRequest(p, c) for p, c in zip(PROMPTS, CONTINUATIONS)]


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
