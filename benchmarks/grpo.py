"""GRPO step figures: step time, rollout and training tokens/s, peak memory (local mode).

    python benchmarks/grpo.py                                  # CPU, tiny settings (2 prompts x G=2, 32 tokens)
    python benchmarks/grpo.py --prompts 64 --G 4 --tokens 256 --steps 3 --device cuda   # the H100 figures

Baseline, measured in the same run: plain `model.generate` sampling of the same prompts with the
same settings (no scoring, no learner), so `rollout / baseline` shows what the GRPO rollout path
costs over raw transformers sampling. Prints one JSON object; docs/performance.md records the numbers.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EXAMPLE = {
    "dialogue": [
        {"speaker": "doctor", "text": "What brings you in today?"},
        {"speaker": "patient", "text": "I have had a dry cough and a fever for five days."},
        {"speaker": "doctor", "text": "Your temperature is 38.1 and your chest sounds clear."},
    ],
    "reference": {
        "S": "Dry cough and fever for 5 days.",
        "O": "T 38.1 C, chest clear.",
        "A": "Viral bronchitis.",
        "P": "Rest, fluids, review in a week.",
    },  # fmt: skip
    "facts": [],
}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--prompts", type=int, default=2)
    p.add_argument("--G", type=int, default=2)
    p.add_argument("--tokens", type=int, default=32)
    p.add_argument("--steps", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--beta", type=float, default=0.05)
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--sft-steps", type=int, default=0, help="SFT warm-start steps on the gold note first")
    p.add_argument("--reward", default="shaped", choices=["format", "shaped", "full"])
    args = p.parse_args()

    import torch

    from training.api import run
    from training.config import build_config
    from training.grpo.data import prompt_text
    from training.grpo.loop import LocalExecutor

    examples = [{**EXAMPLE, "key": f"bench-{i}"} for i in range(args.prompts)]
    with tempfile.TemporaryDirectory() as tmp:
        cfg = build_config("tiny-cpu", {
            "steps": args.steps, "prompts_per_step": args.prompts, "num_generations": args.G,
            "max_new_tokens": args.tokens, "device": args.device, "dtype": "auto", "beta": args.beta,
            "save_every": 10**6, "output_dir": tmp, "micro_batch_tokens": max(16384, args.tokens),
            "gradient_checkpointing": args.gradient_checkpointing, "reward": args.reward,
            "sft_steps": args.sft_steps, "sft_batch_size": 8, "sft_learning_rate": 1e-4})  # fmt: skip
        holder: dict[str, LocalExecutor] = {}

        def factory(c, policy, ref):
            holder["ex"] = LocalExecutor(c, policy, ref)
            return holder["ex"]

        if args.device.startswith("cuda"):
            torch.cuda.reset_peak_memory_stats()
        result = run(cfg, examples=examples, executor_factory=factory)
        ex = holder["ex"]
        # Baseline: raw sampling of the same prompts with the same model object and settings.
        model, tok = ex.learner.model, ex.tokenizer
        prompts = [prompt_text(tok, e, few_shot=False, max_tokens=cfg.max_prompt_tokens) for e in examples]
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(model.device)
        model.eval()
        t0 = time.perf_counter()
        with torch.inference_mode():
            out = model.generate(**enc, do_sample=True, temperature=1.0, top_k=0, max_new_tokens=args.tokens,
                                 num_return_sequences=args.G, pad_token_id=tok.pad_token_id)  # fmt: skip
        base_s = time.perf_counter() - t0
        new = out[:, enc["input_ids"].shape[1] :]
        base_tokens = int((new != tok.pad_token_id).sum())
    steps = [m for m in result.metrics if m["phase"] == "grpo"]
    med = lambda key: statistics.median([m[key] for m in steps if key in m] or [0.0])  # noqa: E731
    figures = {
        "device": args.device if not args.device.startswith("cuda") else torch.cuda.get_device_name(),
        "prompts": args.prompts, "G": args.G, "max_new_tokens": args.tokens, "steps": len(steps), "beta": args.beta,
        "step_seconds_median": med("step_seconds"), "rollout_tokens_per_s": med("rollout_tokens_per_s"),
        "train_tokens_per_s": med("train_tokens_per_s"),
        "peak_memory_mb": max(m.get("peak_memory_mb", 0.0) for m in result.metrics),
        "baseline_generate_tokens_per_s": base_tokens / base_s,
        "rollout_vs_baseline": med("rollout_tokens_per_s") / (base_tokens / base_s),
        "signal_groups": [m["signal_groups"] for m in steps], "reward_mean": [m["reward_mean"] for m in steps],
        "format_valid": [m["format_valid"] for m in steps], "sft_steps": args.sft_steps,
        "sft_loss": [round(m["sft_loss"], 4) for m in result.metrics if m["phase"] == "sft"][-3:],
        "sft_step_seconds_median": statistics.median([m["step_seconds"] for m in result.metrics
                                                      if m["phase"] == "sft"] or [0.0]),
    }  # fmt: skip
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
