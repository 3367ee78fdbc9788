"""Generation speed on one GPU: vLLM (in-process engine) against plain `model.generate`, same run.

    python3 benchmarks/gpu/vllm_generation.py --batches 1 16 64 256 --tokens 128

For each batch size (the same short visit as benchmarks/generation.py, so the figures line up with
its table of our transformers path): tokens/s of plain `generate` (bf16, greedy, fixed length: the
baseline), of vLLM unconstrained (fixed length, `ignore_eos`) and of vLLM constrained to the SOAP
schema (greedy, stops when the note closes), and the ratio vLLM / plain. Then the product's case:
notes for every ACI-Bench valid visit (real, 1,300-2,600 prompt tokens), constrained, in one batch:
wall time, notes per second, and how many are valid JSON and finished.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.generation import DIALOGUE  # noqa: E402
from inference.backends.base import SamplingParams  # noqa: E402
from inference.backends.vllm import VLLMBackend  # noqa: E402
from inference.prompts import build_messages  # noqa: E402

ACI_VALID = Path(__file__).resolve().parents[2] / "data" / "aci-bench" / "valid.csv"


def timed(fn):
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start, out


def aci_dialogues() -> list[list]:
    from inference.cli import _turns

    csv.field_size_limit(1 << 30)
    with ACI_VALID.open(newline="", encoding="utf-8") as fh:
        return [_turns(row["dialogue"], dataset=True) for row in csv.DictReader(fh)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model reference (default: the default model)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64, 256])
    parser.add_argument("--tokens", type=int, default=128, help="new tokens per sequence")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.5)
    parser.add_argument("--note-tokens", type=int, default=1024, help="budget of each ACI-Bench note")
    parser.add_argument("--skip-plain", action="store_true", help="no transformers baseline")
    parser.add_argument(
        "--no-note-rules", action="store_true", help="the engine rollouts use: no note-rule logits processors"
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    engine = VLLMBackend(
        args.model,
        gpu_memory_utilization=args.gpu_memory_utilization,
        max_model_len=8192,
        note_rules=not args.no_note_rules,
    )
    print(f"device: {torch.cuda.get_device_name()}; vLLM engine up in {time.perf_counter() - t0:.1f} s", flush=True)
    messages = build_messages(DIALOGUE)
    ids = engine.encode(messages)
    fixed = SamplingParams(max_new_tokens=args.tokens, constrained=False)
    note = SamplingParams(max_new_tokens=args.tokens, constrained=True)

    plain_model = None
    if not args.skip_plain:
        from transformers import AutoModelForCausalLM

        from inference.models import resolve_model

        plain_model = AutoModelForCausalLM.from_pretrained(str(resolve_model(args.model)), dtype=torch.bfloat16)
        plain_model = plain_model.to("cuda").eval()

    engine.generate_ids([ids], fixed, ignore_eos=True)  # warm-up
    engine.generate([messages], note)  # compiles the grammar outside the timed runs
    rows = []
    for batch in args.batches:
        row: dict = {"batch": batch, "prompt_tokens": len(ids)}
        seconds, out = timed(lambda batch=batch: engine.generate_ids([ids] * batch, fixed, ignore_eos=True))
        n = sum(c.num_tokens for c in out)
        row["vllm"] = {"tokens_per_s": round(n / seconds, 1), "tokens": n, "seconds": round(seconds, 3)}
        seconds, out = timed(lambda batch=batch: engine.generate([messages] * batch, note))
        n = sum(c.num_tokens for c in out)
        valid = sum(1 for c in out if c.finish_reason == "stop" and _is_note(c.text))
        row["vllm_constrained"] = {
            "tokens_per_s": round(n / seconds, 1),
            "tokens": n,
            "seconds": round(seconds, 3),
            "valid_notes": valid,
        }
        if plain_model is not None:
            enc = torch.tensor([ids] * batch, device="cuda")

            def plain(enc=enc):
                with torch.inference_mode():
                    return plain_model.generate(
                        enc,
                        attention_mask=torch.ones_like(enc),
                        max_new_tokens=args.tokens,
                        min_new_tokens=args.tokens,
                        do_sample=False,
                        pad_token_id=engine.tokenizer.pad_token_id or engine.tokenizer.eos_token_id,
                    )

            if batch == args.batches[0]:
                plain()  # warm-up
            seconds, _ = timed(plain)
            row["plain"] = {"tokens_per_s": round(batch * args.tokens / seconds, 1), "seconds": round(seconds, 3)}
            row["ratio_vllm_vs_plain"] = round(row["vllm"]["tokens_per_s"] / row["plain"]["tokens_per_s"], 1)
        rows.append(row)
        print(json.dumps(row), flush=True)

    print("\nbatch | plain generate tok/s (baseline) | vLLM tok/s | ratio | vLLM constrained tok/s | valid notes")
    for r in rows:
        p = r.get("plain", {}).get("tokens_per_s", "n/a")
        c = r["vllm_constrained"]
        print(
            f"{r['batch']} | {p} | {r['vllm']['tokens_per_s']} | {r.get('ratio_vllm_vs_plain', 'n/a')} | "
            f"{c['tokens_per_s']} | {c['valid_notes']}/{r['batch']}"
        )

    dialogues = aci_dialogues()
    prompts = [build_messages(d) for d in dialogues]
    params = SamplingParams(max_new_tokens=args.note_tokens, constrained=True)
    seconds, out = timed(lambda: engine.generate(prompts, params))
    valid = sum(1 for c in out if c.finish_reason == "stop" and _is_note(c.text))
    tokens = sum(c.num_tokens for c in out)
    print(
        json.dumps(
            {
                "aci_bench_valid_notes": len(out),
                "seconds": round(seconds, 2),
                "notes_per_s": round(len(out) / seconds, 2),
                "tokens_per_s": round(tokens / seconds, 1),
                "valid_and_finished": valid,
                "prompt_tokens": [min(c.prompt_tokens for c in out), max(c.prompt_tokens for c in out)],
            }
        ),
        flush=True,
    )


def _is_note(text: str) -> bool:
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(value, dict) and list(value) == ["S", "O", "A", "P"]


if __name__ == "__main__":
    main()
