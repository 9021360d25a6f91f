"""Generation throughput: alignshift's batched greedy decoding (length-sorted,
left-padded batches) against one prompt at a time, on the same prompts, in one run;
both must give the same answers (greedy decoding).

  python benchmarks/generation.py --manifest resources/models/smollm2-135m-instruct/manifest.json
  python benchmarks/generation.py --shape benchmarks/shapes/llama-2-7b.json --prompts 64 --batch-size 64
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from alignshift.generation import generate
from alignshift.prompts import format_prompt
from alignshift.models.load import load
from alignshift.models.spec import ModelSpec
from common import commit, device_name, forward_flops, param_counts, peak_flops, timed

ROOT = Path(__file__).resolve().parents[1]


def load_model(args):
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.manifest:
        manifest = json.loads(Path(args.manifest).read_text())
        lm = load(manifest, ModelSpec.from_dict(manifest["spec"]), device=device)
        return lm.model, lm.tokenizer, manifest["name"]
    from alignshift.stand_ins import corpus, random_model, train_tokenizer

    tok = train_tokenizer(corpus(ROOT / "data"))
    cfg = json.loads(Path(args.shape).read_text())
    with torch.device(device):
        model = random_model(cfg, tok, dtype=torch.bfloat16 if device == "cuda" else torch.float32).eval()
    return model, tok, Path(args.shape).stem


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--manifest")
    src.add_argument("--shape")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--single-prompts", type=int, default=4, help="prompts decoded one at a time")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--out", default="results/benchmarks/generation.json")
    args = ap.parse_args()

    model, tok, name = load_model(args)
    questions = [line.split(",", 2)[1] for line in (ROOT / "data/country_rank/questions.csv").read_text().splitlines()[1:]]
    prompts = [format_prompt(tok, q, chat=True) for q in (questions * 8)[: args.prompts]]
    device = next(model.parameters()).device.type
    peak, counts = peak_flops(device, args.peak_tflops), param_counts(model)
    generate(model, tok, prompts[:2], max_new_tokens=4, batch_size=2)  # warm-up
    batched, t_batched = timed(lambda: generate(model, tok, prompts, max_new_tokens=args.max_new_tokens,
                                                batch_size=args.batch_size))
    single_prompts = prompts[: args.single_prompts]
    single, t_single = timed(lambda: [generate(model, tok, [p], max_new_tokens=args.max_new_tokens)[0]
                                      for p in single_prompts])
    assert single == batched[: len(single)], "batched greedy decoding must equal one-at-a-time decoding"
    report = {"model": name, "device": device_name(), "threads": torch.get_num_threads(), "commit": commit(),
              "max_new_tokens": args.max_new_tokens, "results": []}
    for method, n, seconds in ((f"batched greedy, batch {args.batch_size} (alignshift)", len(prompts), t_batched),
                               ("one prompt at a time", len(single_prompts), t_single)):
        new_tokens = n * args.max_new_tokens  # upper bound: answers may stop early at EOS
        row = {"method": method, "prompts": n, "seconds": seconds, "prompts_per_s": n / seconds,
               "new_tokens_per_s": new_tokens / seconds, "fraction_of_compute_limit":
               # each new token one position through body and head (the prompts' prefill left out)
               forward_flops(counts, new_tokens, new_tokens) / seconds / peak}
        report["results"].append(row)
        print(f"{method:40s} {row['prompts_per_s']:8.2f} prompts/s  {row['new_tokens_per_s']:8.1f} new tok/s",
              flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
