"""Time to a full note on this machine's CPU, the app's path: streaming, constrained, greedy.

    .venv/bin/python benchmarks/note_latency.py                    # median-length ACI-Bench valid visit
    .venv/bin/python benchmarks/note_latency.py --encounters 3     # the three visits nearest the median

For each visit (ACI-Bench valid, chosen by prompt length nearest the median, so a typical real
visit) and each model (the shipped default = base + adapter, and the base alone as the baseline
measured in the same run), prints the prompt length, seconds to the first streamed token (what a
clinician waits for before text appears on the review page), seconds to the whole note, the note's
tokens and tokens per second, and the default's time as a ratio of the base's. Targets (issue 15):
full note under 60 s, first tokens within 5 s, on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch


def _visits(n: int) -> list[dict]:
    from inference.models import load_model
    from inference.prompts import build_messages, render_prompt
    from training.evaluation.datasets import load_examples

    _, tokenizer = load_model("base", device="cpu")
    examples = load_examples("aci-bench:valid")
    lengths = [len(tokenizer(render_prompt(tokenizer, build_messages(e["dialogue"])))["input_ids"]) for e in examples]
    median = statistics.median(lengths)
    order = sorted(range(len(examples)), key=lambda i: abs(lengths[i] - median))
    return [{**examples[i], "prompt_tokens": lengths[i]} for i in order[:n]]


def _one(model: str, dialogue: list[dict], max_new_tokens: int) -> dict[str, float]:
    from inference.engine import generate_note
    from inference.errors import Truncated

    first: list[float] = []
    start = time.perf_counter()

    def progress(text: str, n: int) -> None:
        if n and not first:
            first.append(time.perf_counter() - start)

    try:
        result = generate_note(dialogue, model=model, max_new_tokens=max_new_tokens, on_progress=progress)
        tokens, finished = result.tokens, 1.0
    except Truncated as exc:
        tokens, finished = exc.tokens, 0.0
    total = time.perf_counter() - start
    return {"first_token_s": first[0] if first else total, "total_s": total, "tokens": float(tokens),
            "tok_per_s": tokens / total if total else 0.0, "finished": finished}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--encounters", type=int, default=1)
    p.add_argument("--max-new-tokens", type=int, default=1024)
    p.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    from inference.models import default_adapter, load_model

    print(f"cpu threads: {torch.get_num_threads()}; default adapter: {default_adapter()}")
    for model in ("default", "base"):
        load_model(model, device="cpu")  # load (and merge) outside the timed region
    rows = []
    for visit in _visits(args.encounters):
        for model in ("default", "base"):
            _one(model, visit["dialogue"][:2], 4)  # warm-up: allocator, grammar compile
            r = _one(model, visit["dialogue"], args.max_new_tokens)
            rows.append((visit["key"], visit["prompt_tokens"], model, r))
            print(f"{visit['key']:18} prompt {visit['prompt_tokens']:5d} tok  {model:8} first token "
                  f"{r['first_token_s']:5.1f} s  full note {r['total_s']:6.1f} s  {r['tokens']:5.0f} tok "
                  f"{r['tok_per_s']:5.1f} tok/s  finished {bool(r['finished'])}", flush=True)  # fmt: skip
    by = {m: [r for _, _, mm, r in rows if mm == m] for m in ("default", "base")}
    med = {m: statistics.median(r["total_s"] for r in v) for m, v in by.items()}
    first = {m: statistics.median(r["first_token_s"] for r in v) for m, v in by.items()}
    print(f"\nmedian full note: default {med['default']:.1f} s, base {med['base']:.1f} s "
          f"(ratio default/base {med['default'] / med['base']:.2f}); first token: default {first['default']:.1f} s, "
          f"base {first['base']:.1f} s (ratio {first['default'] / first['base']:.2f})")  # fmt: skip
    print(
        f"targets: full note < 60 s: {'met' if med['default'] < 60 else 'missed'}; "
        f"first token < 5 s: {'met' if first['default'] < 5 else 'missed'}"
    )


if __name__ == "__main__":
    main()
