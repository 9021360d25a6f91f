#!/usr/bin/env bash
# One device check for a lent GPU machine (no internet; torch and transformers installed):
# installs the project and what the machine lacks from wheels brought along, runs the `gpu`
# tests, then the scoring and training benchmarks at a 7B Llama's shape (bf16, and QLoRA in
# 4 bits), each stage under `timeout` within the overall time limit, and writes one report,
# <out>/device-report.md (benchmarks/device_report.py). docs/benchmarks.md, "Device check".
#
#   bash benchmarks/device_check.sh [--wheels DIR] [--time-limit SECONDS] [--out DIR]
#   bash benchmarks/device_check.sh --cpu OUT-DIR    # small shapes on the CPU: the script works
#
# Defaults: --time-limit 450 (8 minutes on one H100 with the start-up), --out results/device-check;
# with --cpu 170 s. PYTHON picks the interpreter (default: python).
set -uo pipefail
cd "$(dirname "$0")/.."

mode=gpu wheels="" limit="" out=results/device-check
while [ $# -gt 0 ]; do
    case "$1" in
        --cpu) mode=cpu out=${2:?--cpu needs an output folder}; shift 2 ;;
        --wheels) wheels=${2:?--wheels needs a folder}; shift 2 ;;
        --time-limit) limit=${2:?--time-limit needs seconds}; shift 2 ;;
        --out) out=${2:?--out needs a folder}; shift 2 ;;
        -h | --help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "device_check.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[ "$mode" = cpu ] && limit=${limit:-170} || limit=${limit:-450}
py=${PYTHON:-python}
mkdir -p "$out" && out=$(cd "$out" && pwd) && : > "$out/stages.tsv"
export PYTHONPATH="$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
start=$(date +%s)
reserve=15 # seconds kept for the report

# stage NAME BUDGET COMMAND...: the command under `timeout`, never past the overall limit;
# one line in stages.tsv (name, exit status, seconds, budget), its output in <name>.log
stage() {
    local name=$1 budget=$2 left t0 rc
    shift 2
    left=$((start + limit - reserve - $(date +%s)))
    [ "$budget" -gt "$left" ] && budget=$left
    if [ "$budget" -lt 10 ]; then
        printf '%s\t-\t0\t%s\ttime limit reached\n' "$name" "$budget" >> "$out/stages.tsv"
        return
    fi
    t0=$(date +%s)
    timeout -k 10 "$budget" "$@" > "$out/${name// /-}.log" 2>&1
    rc=$?
    printf '%s\t%s\t%s\t%s\t\n' "$name" "$rc" "$(($(date +%s) - t0))" "$budget" >> "$out/stages.tsv"
}
skip() { printf '%s\t-\t0\t-\t%s\n' "$1" "$2" >> "$out/stages.tsv"; }

if [ -n "$wheels" ]; then # the project (editable: the tests' snakemake runs this checkout) and its missing packages
    stage "install" 120 "$py" -m pip install --no-index --find-links "$wheels" -e ".[gpu]" pytest
fi
tests=(-m pytest -m gpu -rs -q -p no:cacheprovider tests/test_gpu.py --junitxml="$out/gpu-tests.xml")
if [ "$mode" = cpu ]; then
    shape=benchmarks/shapes/cpu-check.json
    stage "gpu tests" 50 "$py" "${tests[@]}"
    stage "scoring" 50 "$py" benchmarks/scoring.py --shape "$shape" --questions 2 --full-questions 1 \
        --brute-questions 0 --out "$out/scoring.json"
    stage "training" 90 "$py" benchmarks/training.py --shape "$shape" --seq 64 --batch 2 --repeats 1 \
        --out "$out/training.json"
    skip "training 4-bit" "QLoRA needs CUDA and bitsandbytes"
else
    shape=benchmarks/shapes/llama-2-7b.json
    stage "gpu tests" 150 "$py" "${tests[@]}"
    stage "scoring bf16" 60 "$py" benchmarks/scoring.py --shape "$shape" --questions 20 --full-questions 2 \
        --out "$out/scoring-bf16.json"
    stage "training bf16" 130 "$py" benchmarks/training.py --shape "$shape" --seq 512 --batch 4 --repeats 2 \
        --out "$out/training-bf16.json"
    if "$py" -c "import bitsandbytes" 2> /dev/null; then
        stage "training 4-bit" 110 "$py" benchmarks/training.py --shape "$shape" --seq 512 --batch 4 --repeats 2 \
            --quantization 4bit --out "$out/training-4-bit.json"
    else
        skip "training 4-bit" "bitsandbytes is not installed"
    fi
fi
"$py" benchmarks/device_report.py "$out" --mode "$mode" --time-limit "$limit"
