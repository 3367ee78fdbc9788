#!/usr/bin/env bash
# Start the proof run (benchmarks/proof_run.py) detached on the lent GPU machine, once the files are staged.
#
#   bash .proofsrc/benchmarks/proof_run_device.sh --deadline-s 1200     # then poll: tail /tmp/proof/log
#
# Expects in /tmp/devstage/files (copied there beforehand): the default model's GGUF, the synthetic
# examples (proof_data.jsonl.xz), aci-bench valid* files, and wheels installed into /tmp/devstage/site.
# Runs from a copy of the code (PROOF_SRC, default .proofsrc), so later calls that refresh the working
# tree cannot change the code under a running stage. Results land in /tmp/proof/out, the log in /tmp/proof/log.
set -euo pipefail
files=/tmp/devstage/files
src=${PROOF_SRC:-.proofsrc}
mkdir -p /tmp/proof
rm -rf /tmp/proof/src && cp -r "$src" /tmp/proof/src
export PYTHONPATH=/tmp/devstage/site${PYTHONPATH:+:$PYTHONPATH}
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export SOAP_VAR_DIR=/tmp/proof/var
cd /tmp/proof/src
python3 -m pip list 2>/dev/null | grep -iE "^(torch|transformers|trl|datasets|pyarrow|xgrammar|pydantic|accelerate|huggingface.hub|tokenizers|regex|triton) " > /tmp/proof/versions.txt || true
setsid nohup python3 benchmarks/proof_run.py --model "$files/SmolLM2-135M-Instruct.Q4_1.gguf" \
    --data "$files/proof_data.jsonl.xz" --aci-dir "$files" --work /tmp/proof/work --out /tmp/proof/out "$@" \
    > /tmp/proof/log 2>&1 < /dev/null &
echo "proof run started: pid $!"
