"""Scorer throughput: the project's packed prefix-sharing scorer against one forward per
option and against full sequences batched with length sorting, in one run.

Shapes:
  country_rank  Q questions x C countries, a P-token prompt, K-token continuations
  mcqa          Q questions x 4 single-token options after a long P-token prompt

Model: a fetched model (`--manifest resources/models/<name>/manifest.json`, real
weights and tokenizer) or random weights at a real shape (`--shape
benchmarks/shapes/llama-2-7b.json`; bf16 on CUDA). Token ids are random, so the
timings depend only on the shapes.

  python benchmarks/scoring.py --manifest resources/models/smollm2-135m-instruct/manifest.json
  python benchmarks/scoring.py --shape benchmarks/shapes/llama-2-7b.json --questions 10

`--text` (with --manifest): the country_rank shape from text instead of token ids (the
shipped questions, chat-formatted, x the 181 countries of data/country_rank/
countries_181.csv), so the time includes tokenization (each prompt + continuation
tokenized jointly and split at the prompt's token count); it also reports the time to
tokenize and pack alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from alignshift.scoring import Prompt, ScoreRequest, score
from reference_scoring import score_full_sequences
from common import (commit, device_name, forward_flops, param_counts, peak_flops, peak_memory_gb, timed,
                    write_json)

SHAPES = {"country_rank": dict(continuations=181, prompt_tokens=48, continuation_tokens=4),
          "mcqa": dict(continuations=4, prompt_tokens=400, continuation_tokens=1)}


def load_model(args):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if args.manifest:
        from alignshift.models.load import load
        from alignshift.models.spec import ModelSpec

        manifest = json.loads(Path(args.manifest).read_text())
        spec = ModelSpec.from_dict(manifest["spec"])
        lm = load(manifest, spec, device=device)
        return lm.model, lm.tokenizer, manifest["name"]
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = json.loads(Path(args.shape).read_text())
    config = AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=dtype).eval()

    class Tok:  # token ids are given directly; only pad/bos are consulted
        pad_token_id = eos_token_id = 0
        bos_token_id = None

    return model, Tok(), Path(args.shape).stem


def make_requests(vocab: int, questions: int, continuations: int, prompt_tokens: int, continuation_tokens: int,
                  seed: int = 0) -> list[ScoreRequest]:
    g = torch.Generator().manual_seed(seed)
    conts = [tuple(torch.randint(10, vocab, (continuation_tokens,), generator=g).tolist())
             for _ in range(continuations)]
    # random token ids: no text (the scorer reads only the ids of a token-id prompt)
    return [ScoreRequest(Prompt("", tuple(torch.randint(10, vocab, (prompt_tokens,), generator=g).tolist())),
                         tuple(conts)) for _ in range(questions)]


def make_text_requests(tok, questions: int) -> list[ScoreRequest]:
    import csv

    from alignshift.prompts import format_prompt

    data = Path(__file__).resolve().parents[1] / "data" / "country_rank"
    countries = [r["country"] for r in csv.DictReader(open(data / "countries_181.csv", encoding="utf-8"))]
    rows = list(csv.DictReader(open(data / "questions.csv", encoding="utf-8")))
    rows = (rows * (questions // len(rows) + 1))[:questions]
    reqs = []
    for r in rows:
        before = r["template"].partition("{country}")[0]
        prompt = format_prompt(tok, r["question"], chat=True, assistant_prefix=before.rstrip(" "))
        space = " " if before.endswith(" ") else ""
        reqs.append(ScoreRequest(Prompt(prompt), tuple(space + c for c in countries)))
    return reqs


def host_batching(args) -> None:
    """The host's share of the packed scorer on CUDA: the seconds to build every batch of
    `--questions` country_rank questions (the scorer's packing, `--rows-per-batch` rows of
    `--max-row-tokens` as default_batch_tokens picks on an H100) with the attention mask
    built on the host and copied (what the scorer did before) vs only the per-token ids
    (the mask built by the device: here on torch's `meta` device, which computes nothing).
    No model; best of 3."""
    from alignshift import scoring

    class Tok:
        pad_token_id = eos_token_id = 0
        bos_token_id = None

    reqs = make_requests(32000, args.questions, **SHAPES["country_rank"])
    rows = scoring._pack_rows(scoring._segments(Tok(), reqs, args.max_row_tokens), args.max_row_tokens)
    batches = [rows[i:i + args.rows_per_batch] for i in range(0, len(rows), args.rows_per_batch)]
    for where in ("cpu", "meta"):
        seconds = min(timed(lambda: [scoring.build_batch(b, 0, torch.bfloat16, where) for b in batches])[1]
                      for _ in range(3))
        mask_gb = sum(len(b) * max(sum(s.length for s in r) for r in b) ** 2 * 2 for b in batches) / 1e9
        print(f"mask built on {'the host' if where == 'cpu' else 'the device'}: {len(batches)} batches of "
              f"{args.rows_per_batch} rows, {seconds:.2f} s of host time"
              + (f", {mask_gb:.1f} GB of bf16 mask to copy" if where == "cpu" else ""), flush=True)


def text_main(args, model, tok, name):
    from alignshift import scoring

    report = {"model": name, "device": device_name(), "threads": torch.get_num_threads(), "commit": commit(),
              "tokenization": getattr(scoring, "TOKENIZATION", "continuation alone"), "results": []}
    score(model, tok, make_text_requests(tok, 1), max_row_tokens=args.max_row_tokens)  # warm up
    for q in (args.questions,):
        reqs = make_text_requests(tok, q)
        items = sum(len(r.continuations) for r in reqs)
        prep = min(timed(lambda: scoring._pack_rows(scoring._segments(tok, reqs, args.max_row_tokens),
                                                    args.max_row_tokens))[1] for _ in range(3))
        _, seconds = timed(lambda: score(model, tok, reqs, max_row_tokens=args.max_row_tokens))
        row = {"task": "country_rank (text)", "questions": q, "items": items, "seconds": seconds,
               "items_per_s": items / seconds, "tokenize_and_pack_seconds": prep,
               "tokenize_and_pack_share": prep / seconds}
        report["results"].append(row)
        print(f"text country_rank {q} questions x {items // q}: {row['items_per_s']:.1f} items/s, "
              f"tokenize+pack {prep * 1000:.0f} ms ({row['tokenize_and_pack_share']:.1%} of {seconds:.2f} s)",
              flush=True)
    write_json(args.out, report)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group()
    src.add_argument("--manifest")
    src.add_argument("--shape")
    ap.add_argument("--task", choices=sorted(SHAPES), nargs="+", default=sorted(SHAPES))
    ap.add_argument("--questions", type=int, default=10, help="questions for the packed scorer")
    ap.add_argument("--full-questions", type=int, default=4, help="questions for batched full sequences")
    ap.add_argument("--brute-questions", type=int, default=1, help="questions for one forward per option (0: not timed)")
    ap.add_argument("--batch-size", type=int, default=64, help="batch of the full-sequence method")
    ap.add_argument("--max-row-tokens", type=int, default=1024)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--target-questions", type=int, default=554, help="extrapolate to this many questions")
    ap.add_argument("--out", default="results/benchmarks/scoring.json")
    ap.add_argument("--text", action="store_true", help="country_rank from text with the model's tokenizer")
    ap.add_argument("--host-batching", action="store_true",
                    help="only time the host's part of building the packed batches (no model; see host_batching)")
    ap.add_argument("--rows-per-batch", type=int, default=64, help="with --host-batching")
    args = ap.parse_args()
    if args.host_batching:
        return host_batching(args)

    model, tok, name = load_model(args)
    if args.text:
        return text_main(args, model, tok, name)
    device = next(model.parameters()).device.type
    counts = param_counts(model)
    peak = peak_flops(device, args.peak_tflops)
    vocab = model.config.vocab_size
    report = {"model": name, "device": device_name(), "threads": torch.get_num_threads(), "dtype": str(next(model.parameters()).dtype),
              "params": counts, "peak_tflops": peak / 1e12, "commit": commit(), "results": []}
    # method: (questions, scorer, whether each continuation is its own sequence)
    methods = {
        "packed prefix-sharing (alignshift)": (args.questions, lambda r: score(model, tok, r, max_row_tokens=args.max_row_tokens), False),
        f"full sequences, length-sorted, batch {args.batch_size}": (args.full_questions, lambda r: score_full_sequences(model, tok, r, batch_size=args.batch_size), True),
        "one forward per option, batch 1": (args.brute_questions, lambda r: score_full_sequences(model, tok, r, batch_size=1), True),
    }
    for task in args.task:
        shape = SHAPES[task]
        warm = make_requests(vocab, 1, **shape, seed=1)
        score(model, tok, warm, max_row_tokens=args.max_row_tokens)
        for method, (questions, fn, full) in methods.items():
            if questions == 0:  # --brute-questions 0: not timed
                continue
            reqs = make_requests(vocab, questions, **shape)
            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
            _, seconds = timed(lambda: fn(reqs))
            items = questions * shape["continuations"]
            prompt, cont = shape["prompt_tokens"], shape["continuation_tokens"]
            # the packed layout computes each prompt once and projects only the positions that
            # predict a continuation token; a full sequence computes (and projects) its prompt again
            useful = forward_flops(counts, questions * prompt + items * cont, items * cont)
            tokens = items * (prompt + cont) if full else questions * prompt + items * cont
            flops = forward_flops(counts, tokens, tokens) if full else useful
            row = {"task": task, "method": method, "questions": questions, "items": items, "seconds": seconds,
                   "items_per_s": items / seconds, "tokens": tokens, "tokens_per_s": tokens / seconds,
                   "mfu": flops / seconds / peak, "fraction_of_compute_limit": useful / seconds / peak,
                   "peak_memory_gb": peak_memory_gb(),
                   f"est_seconds_{args.target_questions}_questions": seconds / questions * args.target_questions}
            report["results"].append(row)
            write_json(args.out, report)
            print(f"{task:13s} {method:45s} {row['items_per_s']:9.1f} items/s  MFU {row['mfu']:6.1%}  "
                  f"useful {row['fraction_of_compute_limit']:6.1%} of limit  "
                  f"est. {row[f'est_seconds_{args.target_questions}_questions']:8.1f} s", flush=True)
    write_json(args.out, report)


if __name__ == "__main__":
    main()
