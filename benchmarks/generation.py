"""Generation speed: plain `model.generate` against our path (inference.backends.transformers), same run.

    .venv/bin/python benchmarks/generation.py                      # CPU: batch 1
    .venv/bin/python benchmarks/generation.py --batches 1 16 64 256 --static-cache   # GPU

Prints, per batch size: tokens/s and seconds per note for plain generate (unconstrained, fixed
length), our path unconstrained, our path constrained (the app's setting: bounded note schema),
the ratio ours/plain, and the hardware bound at batch 1: weights bytes / measured memory bandwidth
per decode step (a decoder reads every weight once per step).
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from inference.backends.base import SamplingParams
from inference.backends.transformers import TransformersBackend
from inference.prompts import build_messages

DIALOGUE = [
    {"speaker": "doctor", "text": "What brings you in today?"},
    {"speaker": "patient", "text": "I have had a cough and a fever for five days, and I get short of breath."},
    {
        "speaker": "doctor",
        "text": "Your temperature is 38.9 and oxygen saturation 93 percent; crackles at the right base.",
    },
    {"speaker": "doctor", "text": "This is pneumonia. Amoxicillin 1 gram three times a day for five days."},
]


def bandwidth_gbs(device: str) -> float:
    """Measured copy bandwidth (read + write) of a 256 MiB buffer, GB/s."""
    x = torch.empty(64 * 1024 * 1024, dtype=torch.float32, device=device)
    y = torch.empty_like(x)
    y.copy_(x)
    if device == "cuda":
        torch.cuda.synchronize()
    start, reps = time.perf_counter(), 10
    for _ in range(reps):
        y.copy_(x)
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * x.numel() * 4 * reps / (time.perf_counter() - start) / 1e9


def timed(fn) -> tuple[float, object]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None)
    parser.add_argument("--batches", type=int, nargs="+", default=None)
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per sequence")
    parser.add_argument("--static-cache", action="store_true", help="our path: static KV cache")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    device = "cuda" if torch.cuda.is_available() else "cpu"
    batches = args.batches or ([1, 16, 64, 256] if device == "cuda" else [1])
    backend = TransformersBackend(args.model, static_cache=args.static_cache)
    model, tok = backend.model, backend.tokenizer
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    bw = bandwidth_gbs(device)
    bound = bw * 1e9 / weights
    hw = torch.cuda.get_device_name() if device == "cuda" else f"CPU x{torch.get_num_threads()} threads"
    print(f"device: {hw}; weights {weights / 1e6:.0f} MB ({model.dtype}); bandwidth {bw:.0f} GB/s")
    print(f"hardware bound at batch 1: {bound:.0f} tokens/s ({1000 / bound:.2f} ms per decode step)")
    try:
        import xgrammar  # noqa: F401

        constrained_ok = True
    except ImportError:
        constrained_ok = False
        print("xgrammar is not importable here: constrained rows skipped")
    messages = build_messages(DIALOGUE)
    prompt = backend.render(messages)
    rows = []
    for batch in batches:
        enc = tok([prompt] * batch, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)

        def plain(enc=enc):
            with torch.inference_mode():
                return model.generate(
                    **enc,
                    max_new_tokens=args.tokens,
                    min_new_tokens=args.tokens,
                    do_sample=False,
                    pad_token_id=tok.pad_token_id,
                )

        def ours(constrained: bool, batch=batch):
            params = SamplingParams(max_new_tokens=args.tokens, constrained=constrained)
            return backend.generate([messages] * batch, params)

        plain()  # warm-up (and compile, where it applies)
        ours(False)
        if constrained_ok:
            ours(True)  # compiles and caches the grammar outside the timed runs
        result = {"batch": batch}
        cases = [("plain", plain), ("ours", lambda: ours(False))]
        if constrained_ok:
            cases.append(("ours_constrained", lambda: ours(True)))
        for name, fn in cases:
            best = None
            for _ in range(args.repeats):
                seconds, out = timed(fn)
                n = batch * args.tokens if name == "plain" else sum(len(c.token_ids) for c in out)  # type: ignore[union-attr]
                best = min(best or (1e9, n), (seconds, n))
            seconds, n = best
            result[name] = {"tokens_per_s": round(n / seconds, 1), "s_per_note": round(seconds / batch, 3), "tokens": n}
        result["ratio_ours_vs_plain"] = round(result["ours"]["tokens_per_s"] / result["plain"]["tokens_per_s"], 2)
        if constrained_ok:
            result["constrained_overhead"] = round(
                result["ours"]["tokens_per_s"] / result["ours_constrained"]["tokens_per_s"] - 1, 3
            )
        rows.append(result)
        print(json.dumps(result), flush=True)
    print("batch | plain tok/s | ours tok/s | ours constrained tok/s | ratio | constrained overhead | s/note (constr.)")
    for r in rows:
        c = r.get("ours_constrained", {})
        print(
            f"{r['batch']} | {r['plain']['tokens_per_s']} | {r['ours']['tokens_per_s']} | "
            f"{c.get('tokens_per_s', 'n/a')} | {r['ratio_ours_vs_plain']} | "
            f"{r.get('constrained_overhead', 'n/a')} | {c.get('s_per_note', 'n/a')}"
        )


if __name__ == "__main__":
    main()
