"""The peer in the proof run: TRL's GRPOTrainer on the same model, data, reward, G, batch and steps.

Called by `benchmarks/proof_run.py` (stage `trl`) in its own process, so TRL's Trainer and
accelerate state never touch our run. Reward: our `Scorer` (format + fact judge, the function our
loop optimises), wrapped as a TRL reward function `f(completions, idx, **columns) -> list[float]`.
Precision: fp32 weights with bf16 autocast (ours: fp32 weights, TF32 matmuls; both keep
small updates that pure-bf16 weights would round away). Prompts: the same rendered chat prompts
our loop samples from (`prompt_text`). Objective: set to
ours (loss_type "grpo" = mean of per-sequence means, clip 0.4/0.5, beta 0, AdamW betas 0.9/0.99, wd,
constant lr, grad clip 1.0); gradient checkpointing off as in ours; generation is TRL's own
(transformers `generate`, dynamic cache unless `cache_implementation` is given).
Writes one JSON line per optimiser step to `<work>/trl<suffix>_metrics.jsonl` as it goes.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any


def run_trl(
    *,
    model_dir: str,
    train_file: str,
    work: Path,
    steps: int,
    prompts: int,
    G: int,
    tokens: int,
    max_prompt_tokens: int,
    learning_rate: float,
    seed: int,
    cache_implementation: str | None = None,
    suffix: str = "",
) -> dict[str, Any]:
    # datasets fingerprints a new Dataset by pickling its Arrow schema with dill; on the GPU machine's
    # Python 3.12 + pyarrow that raises PicklingError (pyarrow's MonthDayNano type). A run-local
    # dataset needs no cache key: use random fingerprints and no cache.
    import datasets
    import datasets.arrow_dataset
    import torch
    from datasets import Dataset
    from datasets.fingerprint import generate_random_fingerprint
    from transformers import AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from training.config import build_config
    from training.grpo.data import load_examples, prompt_text
    from training.grpo.rewarding import Scorer

    datasets.disable_caching()
    datasets.arrow_dataset.generate_fingerprint = lambda _dataset: generate_random_fingerprint()

    cuda = torch.cuda.is_available()
    examples = load_examples(train_file, split="train")
    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token_id is None:
        tok.pad_token = tok.eos_token
    # Enough prompts for `steps` steps; TRL shuffles them with its own sampler (seeded).
    n_rows = min(len(examples), max(prompts * steps * 2, 64))
    rows = [
        {"prompt": prompt_text(tok, examples[i], few_shot=False, max_tokens=max_prompt_tokens), "idx": i}
        for i in range(n_rows)
    ]
    scorer = Scorer(build_config("recipe", {"reward": "full", "judge": "fact", "strict_format": True}))

    def soap_reward(completions: list[str], idx: list[int], **_: Any) -> list[float]:
        return [scorer.score(examples[i], c)["total"] for c, i in zip(completions, idx, strict=True)]

    micro = max(1, prompts * G // 4)  # 4 micro-batches of 16 completions: one generation per optimiser step
    args = GRPOConfig(
        output_dir=str(work / f"trl{suffix}"),
        max_steps=steps,
        per_device_train_batch_size=micro,
        gradient_accumulation_steps=prompts * G // micro,
        num_generations=G,
        max_completion_length=tokens,
        learning_rate=learning_rate,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.01,
        adam_beta1=0.9,
        adam_beta2=0.99,
        max_grad_norm=1.0,
        beta=0.0,
        epsilon=0.4,
        epsilon_high=0.5,
        loss_type="grpo",
        scale_rewards="group",
        temperature=1.0,
        top_p=1.0,
        gradient_checkpointing=False,
        bf16=cuda,
        use_cpu=not cuda,
        model_init_kwargs={"dtype": "float32"},  # fp32 master weights, bf16 autocast (TRL's mixed precision)
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        seed=seed,
        remove_unused_columns=False,
        cache_implementation=cache_implementation,
        dataloader_num_workers=0,
    )
    log_path = work / f"trl{suffix}_metrics.jsonl"
    log_path.unlink(missing_ok=True)
    timing: dict[str, Any] = {"generate_s": 0.0, "step_start": 0.0, "steps": []}

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):  # noqa: ANN001
            if cuda:
                torch.cuda.synchronize()
            timing["step_start"] = time.perf_counter()
            timing["generate_s"] = 0.0

        def on_step_end(self, args, state, control, **kw):  # noqa: ANN001
            if cuda:
                torch.cuda.synchronize()
            timing["steps"].append(
                {
                    "step": state.global_step,
                    "step_seconds": time.perf_counter() - timing["step_start"],
                    "generate_seconds": timing["generate_s"],
                }  # fmt: skip
            )

        def on_log(self, args, state, control, logs=None, **kw):  # noqa: ANN001
            if not logs or "reward" not in logs or not timing["steps"]:
                return
            row = {**timing["steps"][-1], **{k: v for k, v in logs.items() if isinstance(v, int | float)}}
            row["completion_tokens"] = row.get("completions/mean_length", 0.0) * prompts * G
            row["completion_tokens_per_step_s"] = row["completion_tokens"] / max(row["step_seconds"], 1e-9)
            row["rollout_tokens_per_s"] = row["completion_tokens"] / max(row["generate_seconds"], 1e-9)
            row["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20 if cuda else 0.0
            timing["steps"][-1] = row
            with log_path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(row) + "\n")

    if cuda:
        torch.cuda.reset_peak_memory_stats()
    began = time.perf_counter()
    trainer = GRPOTrainer(
        model=model_dir,
        reward_funcs=soap_reward,
        args=args,
        train_dataset=Dataset.from_list(rows),
        processing_class=tok,
        callbacks=[Timer()],
    )
    model = trainer.model
    plain_generate = model.generate

    def timed_generate(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        out = plain_generate(*a, **kw)
        if cuda:
            torch.cuda.synchronize()
        timing["generate_s"] += time.perf_counter() - t0
        return out

    model.generate = timed_generate  # TRL unwraps to this very module for generation (single process)
    setup_s = time.perf_counter() - began
    trainer.train()
    rows_out = [s for s in timing["steps"] if "reward" in s]
    later = rows_out[1:] or rows_out
    med = lambda key: statistics.median([r[key] for r in later]) if later else None  # noqa: E731
    return {
        "steps": rows_out,
        "setup_seconds": setup_s,
        "total_seconds": time.perf_counter() - began,
        "first_step_seconds": rows_out[0]["step_seconds"] if rows_out else None,
        "step_seconds_median_after_first": med("step_seconds"),
        "rollout_tokens_per_s_median": med("rollout_tokens_per_s"),
        "completion_tokens_per_step_s_median": med("completion_tokens_per_step_s"),
        "peak_memory_mb": max((r["peak_memory_mb"] for r in rows_out), default=0.0),
        "reward": [r["reward"] for r in rows_out],
        "config": {
            k: getattr(args, k)
            for k in (
                "per_device_train_batch_size",
                "gradient_accumulation_steps",
                "num_generations",
                "max_completion_length",
                "learning_rate",
                "beta",
                "epsilon",
                "epsilon_high",
                "loss_type",
                "scale_rewards",
                "temperature",
                "gradient_checkpointing",
                "bf16",
                "cache_implementation",
                "max_steps",
            )
        },  # fmt: skip
    }
