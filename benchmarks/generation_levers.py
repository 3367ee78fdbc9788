"""GPU levers for batch-1 decoding, with nothing but torch + transformers (runs on a bare GPU machine).

    python benchmarks/generation_levers.py --gguf var/cache/gguf/SmolLM2-135M-Instruct.Q4_1.gguf

Loads the default model straight from its GGUF (bf16 on CUDA) and prints, per batch size, tokens/s of
plain `generate` (dynamic cache) against `generate` with a static KV cache and torch.compile (CUDA
graphs through mode='reduce-overhead'), their ratio, and the batch-1 hardware bound.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    gguf = Path(args.gguf)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    model = (
        AutoModelForCausalLM.from_pretrained(
            str(gguf.parent), gguf_file=gguf.name, quantization_config=GgufConfig(gguf_file=str(gguf), dequantize=True)
        )
        .to(device, dtype)
        .eval()
    )
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tok.padding_side = "left"
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    x = torch.empty(64 << 20, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    torch.cuda.synchronize() if device == "cuda" else None
    t = time.perf_counter()
    for _ in range(10):
        y.copy_(x)
    torch.cuda.synchronize() if device == "cuda" else None
    bw = 2 * x.numel() * 4 * 10 / (time.perf_counter() - t)
    print(
        f"{torch.cuda.get_device_name() if device == 'cuda' else 'cpu'}: weights {weights / 1e6:.0f} MB, "
        f"copy bandwidth {bw / 1e9:.0f} GB/s, batch-1 bound {bw / weights:.0f} tokens/s"
    )
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Write a SOAP note for a patient with a cough."}],
        tokenize=False,
        add_generation_prompt=True,
    )
    print("batch | plain tok/s | static+compile tok/s | ratio")
    for batch in args.batches:
        enc = tok([prompt] * batch, return_tensors="pt", add_special_tokens=False).to(device)
        rates = []
        for static in (False, True):
            kw: dict[str, object] = {"max_new_tokens": args.tokens, "min_new_tokens": args.tokens}
            kw.update(do_sample=False, pad_token_id=tok.eos_token_id)
            if static:
                kw["cache_implementation"] = "static"
            with torch.inference_mode():
                model.generate(**enc, **kw)  # warm-up / compile
                model.generate(**enc, **kw)
                torch.cuda.synchronize() if device == "cuda" else None
                t = time.perf_counter()
                model.generate(**enc, **kw)
                torch.cuda.synchronize() if device == "cuda" else None
            rates.append(batch * args.tokens / (time.perf_counter() - t))
        print(f"{batch} | {rates[0]:.0f} | {rates[1]:.0f} | {rates[1] / rates[0]:.2f}", flush=True)


if __name__ == "__main__":
    main()
