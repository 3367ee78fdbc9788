# Shell helpers shared by the GPU scripts (train_sweep.sh, grpo_default.sh); source it after setting
# PY, R (results), RUNS (run directories), GEN_TOKENS, LIMIT and t0.
stamp() { echo "[$(( $(date +%s) - t0 ))s] $*"; }
last_step() { ls -d "$RUNS/$1"/step-* 2>/dev/null | sort -t- -k2 -n | tail -1; }
gen() {  # gen NAME MODEL DATASET [--unconstrained]: notes for DATASET, the app's decoding unless --unconstrained
  local name=$1 model=$2 data=$3; shift 3
  $PY -m inference generate --jsonl "$data" "$R/notes/$name.jsonl" --model "$model" --batch-size 50 \
    --max-new-tokens "$GEN_TOKENS" $LIMIT "$@" > "$R/notes/$name.log" 2>&1
  stamp "notes $name: $(tail -1 "$R/notes/$name.log")"
}
bring_back() {  # bring_back ADAPTER_DIR OUT_PREFIX: the adapter in two pieces, since files come back at most 16 MiB
  # each (cat OUT_PREFIX.safetensors.0 OUT_PREFIX.safetensors.1 > adapter_model.safetensors)
  split -n 2 -d -a 1 "$1/adapter_model.safetensors" "$2.safetensors." && cp "$1/adapter_config.json" "$2.config.json"
}
