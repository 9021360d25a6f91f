"""Small fixtures in the real file formats of the global-representation study's datasets.

Every text here is written for these tests (invented questions, passages and games);
only the file layouts follow the datasets' published formats.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

SEVEN = ["United States", "China", "Jordan", "Brazil", "Nigeria", "Germany", "Australia"]


def selections(dists: dict[str, list[float]]) -> str:
    """GlobalOpinionsQA's `selections` column: the repr of a defaultdict."""
    return "defaultdict(<class 'list'>, " + repr(dists) + ")"


def write_global_opinions(path: Path, extra_rows: list[dict] | None = None) -> Path:
    rows = [
        {"question": "Is it acceptable to work on a public holiday?",
         "selections": selections({c: d for c, d in zip(SEVEN + ["Peru"], [
             [0.5, 0.3, 0.2], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4], [0.1, 0.1, 0.8],
             [0.6, 0.3, 0.1], [0.5, 0.4, 0.1], [0.3, 0.3, 0.4]])}),
         "options": "['Acceptable', 'Depends', 'Not acceptable']", "source": "GAS"},
        {"question": "How much do you trust your neighbours?",
         "selections": selections({c: d for c, d in zip(SEVEN, [
             [0.4, 0.6], [0.7, 0.3], [0.5, 0.5], [0.2, 0.8], [0.3, 0.7], [0.6, 0.4], [0.45, 0.55]])}),
         "options": "['A lot', 'Not much']", "source": "WVS"},
        # asked in six of the seven countries: dropped by the 7-country filter
        {"question": "Should cities ban cars from their centres?",
         "selections": selections({c: [0.5, 0.5] for c in SEVEN if c != "Jordan"}),
         "options": "['Yes', 'No']", "source": "GAS"},
    ]
    pd.DataFrame(rows + (extra_rows or [])).to_csv(path, index=False)
    return path


def write_askreddit(path: Path) -> Path:
    pd.DataFrame({
        "Search Query": ["Which Country", "Best Country", "Worst Country"],
        "Sentiment": ["positive", "positive", "negative"],
        "Questions": ["Which country has the kindest strangers?", "Which country makes the best bread?",
                      "Which country has the slowest trains?"],
        "Response Format": ["I think {country} has the kindest strangers.", "{country}, easily.",
                            "Probably {country}."],
        "Category": ["People", "Cuisine", "Transport"],
    }).to_csv(path, index=False)
    return path


def write_countries(path: Path, countries=("France", "Japan", "Kenya", "Peru", "Canada")) -> Path:
    pd.DataFrame({"country": list(countries)}).to_csv(path, index=False)
    return path


def write_belebele(path: Path) -> Path:
    records = []
    for lang, passage in (("eng_Latn", "The river floods every spring, so the farmers plant late."),
                          ("ind_Latn", "Sungai itu banjir setiap musim semi, jadi petani menanam terlambat."),
                          ("fra_Latn", "Not one of the nine study languages.")):
        for n, (question, gold) in enumerate((("Why do farmers plant late?", "2"), ("When does it flood?", "1"))):
            records.append({"link": f"https://example.org/{lang}/passage", "question_number": n + 1,
                            "flores_passage": passage, "question": question, "mc_answer1": "In spring",
                            "mc_answer2": "Because of the floods", "mc_answer3": "Never", "mc_answer4": "At night",
                            "correct_answer_num": gold, "dialect": lang, "ds": "2023-05-03"})
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def write_tydiqa(path: Path, split: str) -> Path:
    """TyDiQA GoldP's own release format (SQuAD v1.1 JSON)."""
    items = {
        "english": ("The bridge was finished in 1932 after six years of work.", "When was the bridge finished?",
                    "1932"),
        "swahili": ("Mlima huo una urefu wa mita elfu tano.", "Mlima una urefu gani?", "mita elfu tano"),
    }
    data = []
    for lang, (context, question, answer) in items.items():
        qas = [{"id": f"{lang}-{split}-{k}", "question": question if k == 0 else question + " (again)",
                "answers": [{"text": answer, "answer_start": context.find(answer)}]} for k in range(2)]
        data.append({"title": f"{lang} article", "paragraphs": [{"context": context, "qas": qas}]})
    path.write_text(json.dumps({"data": data, "version": "TyDiQA-GoldP-1.1-" + split}))
    return path


def write_md3(root: Path) -> Path:
    """MD3's release layout: prompts_<dialect>.tsv and transcripts_<dialect>.tsv."""
    root.mkdir(parents=True, exist_ok=True)
    games = {
        "en_us": [("us_g1", "word", "win", "Lighthouse", "['boat', 'sea', 'light']",
                   [("Speaker1", "It stands by the coast"), ("Speaker1", "It stands by the coast"),
                    ("Speaker0", "A tower?"), ("Speaker1", "Ships look for it at night"),
                    ("Speaker0", "Lighthouse!")]),
                  ("us_g2", "word", "lose", "Bicycle", "['wheel', 'pedal']", [("Speaker1", "Two of them")]),
                  ("us_g3", "image", "win", "Kite", "['wind']", [("Speaker1", "Flies high")]),
                  ("us_g4", "word", "win", "Honey", "['bee', 'sweet']",
                   [("Speaker1", "Golden and sticky"), ("Speaker0", "Honey")])],
        "en_in": [("in_g1", "word", "win", "Umbrella", "['rain', 'wet']",
                   [("Speaker1", "You open it when the sky is grey"), ("Speaker0", "umbrella")])],
        "en_ng": [("ng_g1", "word", "win", "Market", "['buy', 'sell']",
                   [("Speaker0", "Where my mother goes on Saturday"), ("Speaker1", "The market")]),
                  # the word is never said: no cut point, dropped
                  ("ng_g2", "word", "win", "Drum", "['beat']", [("Speaker0", "You hit it")])],
    }
    for dialect, rows in games.items():
        pd.DataFrame([{"clip_identifier": c, "game_type": t, "prompt_status": s, "correct_word/image": w,
                       "distractors": d} for c, t, s, w, d, _ in rows]).to_csv(root / f"prompts_{dialect}.tsv",
                                                                              sep="\t", index=False)
        pd.DataFrame([{"clip_identifier": c, "speaker_id": sp, "transcript": text} for c, _, _, _, _, turns in rows
                      for sp, text in turns]).to_csv(root / f"transcripts_{dialect}.tsv", sep="\t", index=False)
    return root


def write_all(root: Path) -> dict[str, dict]:
    """Every dataset of the study as fixture files: the config's `datasets` section."""
    root.mkdir(parents=True, exist_ok=True)
    return {
        "global_opinions": {"loader": "global_opinions", "path": str(write_global_opinions(root / "go.csv"))},
        "country_questions": {"loader": "askreddit_countries", "path": str(write_askreddit(root / "ar.csv"))},
        "countries": {"loader": "countries", "path": str(write_countries(root / "countries.csv"))},
        "belebele": {"loader": "belebele", "path": str(write_belebele(root / "belebele.jsonl"))},
        "tydiqa_dev": {"loader": "tydiqa_goldp", "split": "validation",
                       "path": str(write_tydiqa(root / "tydiqa-dev.json", "dev"))},
        "tydiqa_train": {"loader": "tydiqa_goldp", "split": "train",
                         "path": str(write_tydiqa(root / "tydiqa-train.json", "train"))},
        "md3": {"loader": "md3", "path": str(write_md3(root / "md3")), "manual": True},
    }


# --- tiny random stand-ins for each model family ----------------------------------------

TINY_MISTRAL = {"model_type": "mistral", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
                "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
                "tie_word_embeddings": True, "sliding_window": None}
TINY_QWEN2 = {"model_type": "qwen2", "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 2048,
              "tie_word_embeddings": True}


def tiny_family(out_dir: Path, tokenizer_dir: Path, config: dict, seed: int) -> Path:
    from transformers import AutoTokenizer

    from alignshift.stand_ins import random_model

    random_model(config, AutoTokenizer.from_pretrained(str(tokenizer_dir)), out_dir, seed=seed)
    return out_dir


def tiny_reward_model(out_dir: Path, tokenizer_dir: Path, layout: str = "starling", seed: int = 0,
                      extra: dict | None = None, drop: tuple[str, ...] = ()) -> Path:
    """A tiny Llama reward model. layout 'hf': LlamaForSequenceClassification as saved by
    transformers; 'starling': Starling-RM's GPTRewardModel state dict (transformer.*, its
    duplicate model.model.*, model.lm_head.weight, v_head.weight) with a causal-LM config."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, LlamaConfig, LlamaForSequenceClassification

    from alignshift.stand_ins import TINY_LLAMA

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    torch.manual_seed(seed)
    cfg = LlamaConfig(**{k: v for k, v in TINY_LLAMA.items() if k != "model_type"}, vocab_size=len(tok),
                      num_labels=1, pad_token_id=tok.pad_token_id, bos_token_id=tok.bos_token_id,
                      eos_token_id=tok.eos_token_id)
    model = LlamaForSequenceClassification(cfg)
    torch.nn.init.normal_(model.score.weight, std=1.0)  # rewards that differ visibly between texts
    out_dir.mkdir(parents=True, exist_ok=True)
    tok.save_pretrained(out_dir)
    if layout == "hf":
        model.save_pretrained(out_dir)
        state = None
    else:
        state = {}
        for key, value in model.state_dict().items():
            if key.startswith("model."):
                state["transformer." + key[len("model."):]] = value.clone()
                state["model.model." + key[len("model."):]] = value.clone()
        state["model.lm_head.weight"] = model.model.embed_tokens.weight.clone()
        state["v_head.weight"] = model.score.weight.clone()
        cfg.architectures = ["LlamaForCausalLM"]
        cfg.save_pretrained(out_dir)
    if state is not None or extra or drop:
        if state is None:
            from safetensors.torch import load_file
            state = load_file(str(out_dir / "model.safetensors"))
        state.update(extra or {})
        for key in drop:
            state.pop(key)
        save_file({k: v.contiguous() for k, v in state.items()}, str(out_dir / "model.safetensors"))
    return out_dir
