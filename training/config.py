"""Training configuration: one flat pydantic model, named presets, and `key=value` overrides.

A run is fully described by a `TrainConfig`; the exact resolved configuration is written with
every checkpoint and stored on the TrainingRun, so a run can always be reproduced. Like TRL's
`GRPOConfig`, every field carries help text (the source of `--help-config`) and `validate()` rejects
bad combinations with a message that says how to fix them (checked before a run starts, in the
admin and on the CLI).

Types are strict: an int field rejects 2.5, "2" and True; a float field rejects nan and inf; a bool
field rejects "yes". Only `build_config` turns strings (from the CLI's `--set k=v` and the admin's
text boxes) into the field's type first; JSON values are taken as they are and must already fit.

Presets:
- `recipe`: the published recipe (G=4, temperature 1.0, 1024 new tokens, clip 0.4/0.5, k3 KL
  with beta 0.05, AdamW lr 3e-6, weight decay 0.01, grad clip 1.0).
- `dapo`: the recipe with DAPO's asymmetric clip 0.2/0.28, per-token loss and no KL.
- `tiny-cpu`: a few small steps that finish in about a minute on 2 CPU cores (tests, demos).
"""

from __future__ import annotations

import difflib
import json
import math
import types
import typing
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

MODES = ("local", "ray")
KINDS = ("grpo", "sft")
SCALE_REWARDS = ("group", "batch", "none")
LOSS_AGGREGATIONS = ("token", "sequence", "fixed")
REWARDS = ("format", "shaped", "full")
JUDGES = ("fact", "reference", "grounded", "llm")
DTYPES = ("auto", "float32", "bf16-mixed", "bfloat16", "float16")
KL_ESTIMATORS = ("k3", "k2")
ROLLOUT_ENGINES = ("transformers", "vllm")
LR_SCHEDULERS = ("constant", "cosine")


def _ray_mode_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("training.orchestration.ray_mode") is not None


class ConfigError(ValueError):
    """A training configuration that cannot run; the message names the field and the fix."""


def _f(default: Any, help: str, **kw: Any) -> Any:  # noqa: A002 - mirrors TRL's metadata={"help": ...}
    if isinstance(default, list | dict):
        return Field(default_factory=lambda: type(default)(default), description=help, **kw)
    return Field(default=default, description=help, **kw)


def _describe(exc: ValidationError) -> str:
    """The first problem of a pydantic error as one sentence naming the field (or validate()'s message)."""
    err = exc.errors()[0]
    inner = (err.get("ctx") or {}).get("error")
    if isinstance(inner, ConfigError):
        return str(inner)
    name = ".".join(str(p) for p in err["loc"]) or "config"
    if err["type"] == "extra_forbidden":
        return f"unknown setting {name!r}. See `python -m training.train --help-config`."
    return f"{name}={err.get('input')!r} is not valid: {err['msg']}."


class TrainConfig(BaseModel):
    """Everything a GRPO or SFT run needs. Field help is shown in the admin and by `--help-config`."""

    model_config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False, protected_namespaces=())

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None

    # --- what and where -------------------------------------------------------------------------
    kind: str = _f("grpo", "grpo (RL, optionally with an SFT warm-start phase) or sft (supervised only).")
    model: str | None = _f(None, "Model reference to start from (HF dir, GGUF, checkpoint); None = the default policy.")
    data: str | None = _f(None, "JSONL file of Example dicts (dialogue, reference, facts, ...).")
    split: str = _f("train", "Which split of the data to train on ('' = all).")
    output_dir: str = _f("var/checkpoints/run", "Run directory; checkpoints land in <output_dir>/step-N.")
    seed: int = _f(0, "Seed for data order, sampling and initialisation.")
    mode: str = _f("local", "local (one process, one device) or ray (rollout/judge/learner actors).")
    device: str = _f("auto", "auto, cpu or cuda[:i] (local mode and each Ray learner).")
    dtype: str = _f(
        "auto",
        "auto (= float32: fp32 weights and compute, TF32 matrix units on GPU), bf16-mixed (fp32 master weights, "
        "bf16 autocast), or bfloat16/float16 (weights stored in that type). Measured on an H200: the LoRA SFT "
        "recipe reached a NaN gradient at step 13 with bf16-mixed and at step 48 in plain bf16; float32 trained.",
    )

    # --- schedule -------------------------------------------------------------------------------
    steps: int = _f(100, "GRPO steps (one rollout batch each). For kind=sft: SFT optimiser steps.")
    prompts_per_step: int = _f(16, "Distinct dialogues per step; each gets num_generations completions.")
    save_every: int = _f(25, "Write a checkpoint every N steps (and always at the end).")
    time_limit_minutes: float = _f(
        0.0,
        "Stop at the first step boundary after this many minutes of this invocation, with a checkpoint (0 = no "
        "limit); running the same command again resumes. For a GPU machine lent for a fixed time.",
    )
    keep_checkpoints: int = _f(0, "Keep only the newest N step-* checkpoints (0 = keep all).")

    # --- rollout --------------------------------------------------------------------------------
    num_generations: int = _f(4, "G: completions sampled per dialogue (the group).")
    temperature: float = _f(1.0, "Sampling temperature for rollouts (also divides the logits in the loss, as TRL).")
    top_p: float = _f(
        1.0,
        "Nucleus sampling for rollouts. Must stay 1.0: the learner's log-probs are over the full vocabulary, so "
        "rollouts from a truncated distribution would make the ratio and the KL off-policy.",
    )
    max_new_tokens: int = _f(1024, "Longest completion sampled.")
    max_prompt_tokens: int = _f(2048, "Dialogues whose prompt is longer are left-truncated (oldest turns dropped).")
    few_shot: bool = _f(False, "Put the one-shot example in the prompt (longer prompts, easier format).")
    rollout_static_cache: bool = _f(
        False,
        "Static KV cache for rollouts (local mode): on CUDA transformers compiles the decode step into CUDA graphs, "
        "several times faster sampling at small batches; the first step pays about a minute of compilation.",
    )

    rollout_engine: str = _f(
        "transformers",
        "transformers (the learner's own module samples) or vllm (an in-process vLLM engine on the same GPU, "
        "weights pushed after every optimiser step; mode=local on CUDA, vllm installed).",
    )
    rollout_constrained: bool = _f(
        False,
        "Sample rollouts with the app's note decoding (schema grammar, section budgets, grounded numbers, no "
        "repeated runs): every sample is a note, so the groups' rewards differ by content and grounding, not by "
        "format. The learner's log-probs stay over the full vocabulary (as TRL's guided decoding); keep it off "
        "to teach unconstrained notes to end.",
    )
    vllm_gpu_memory_utilization: float = _f(
        0.3, "Share of the GPU's memory the in-process vLLM engine takes (weights + KV cache), as TRL's colocate."
    )

    # --- reward ---------------------------------------------------------------------------------
    reward: str = _f("full", "format (0/1 valid JSON), shaped (partial credit toward valid JSON), full (format+judge).")
    judge: str = _f(
        "fact",
        "Section judge for reward=full: fact (gold facts), reference, grounded (reference overlap x "
        "grounding in the dialogue: penalises invented values, drugs, diagnoses), llm.",
    )
    judge_base_url: str = _f("", "OpenAI-compatible endpoint for judge=llm.")
    judge_model: str = _f("", "Model name served at judge_base_url.")
    strict_format: bool = _f(False, "Format reward accepts nothing outside the JSON object.")

    # --- objective ------------------------------------------------------------------------------
    scale_rewards: str = _f("group", "Advantage scaling: group std, batch std, or none (Dr. GRPO).")
    loss_aggregation: str = _f(
        "sequence",
        "token (mean over all tokens), sequence (mean of per-sequence means), "
        "fixed (sum / (B * max_new_tokens), Dr. GRPO).",
    )
    epsilon_low: float = _f(0.2, "Lower clip: ratio floor is 1 - epsilon_low.")
    epsilon_high: float = _f(0.2, "Upper clip: ratio ceiling is 1 + epsilon_high.")
    beta: float = _f(0.0, "KL coefficient to the frozen reference; 0 loads no reference model.")
    kl_estimator: str = _f(
        "k3",
        "Per-token KL estimator of the beta term: k3 (exp(d) - d - 1, Schulman; TRL's default) or k2 "
        "(d^2 / 2, whose gradient is the unbiased KL gradient on-policy); d = ref - policy log-prob, clamped.",
    )
    num_iterations: int = _f(1, "Passes (mu) over each rollout batch; >1 uses old log-probs for the ratio.")
    mini_batches: int = _f(1, "Optimiser steps per pass: the rollout batch is split into this many parts.")

    # --- optimiser ------------------------------------------------------------------------------
    learning_rate: float = _f(1e-6, "AdamW learning rate.")
    weight_decay: float = _f(0.0, "AdamW weight decay.")
    adam_beta1: float = _f(0.9, "AdamW beta1.")
    adam_beta2: float = _f(0.99, "AdamW beta2.")
    max_grad_norm: float = _f(1.0, "Clip the global gradient norm (0 = no clipping).")
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass (less memory, ~30% slower).")
    micro_batch_tokens: int = _f(16384, "Token budget of one forward/backward micro-batch (padded tokens).")

    lr_scheduler: str = _f("constant", "Learning-rate schedule within each phase (SFT, GRPO): constant or cosine.")
    warmup_ratio: float = _f(0.0, "Share of each phase's steps that ramp the learning rate up linearly from 0.")
    min_lr_ratio: float = _f(0.1, "cosine: the learning rate decays to this share of its peak by the phase's end.")

    # --- LoRA -----------------------------------------------------------------------------------
    lora_rank: int = _f(0, "LoRA rank r; 0 = full fine-tuning. With r > 0 checkpoints are adapters (peft).")
    lora_alpha: int = _f(32, "LoRA alpha (the update is scaled by alpha / r).")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA input.")
    lora_target_modules: str = _f(
        "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
        "Comma-separated module names that get LoRA adapters ('all-linear' for every linear layer).",
    )

    # --- SFT warm start -------------------------------------------------------------------------
    sft_steps: int = _f(0, "SFT optimiser steps on gold notes before GRPO (kind=grpo) - the warm start.")
    sft_batch_size: int = _f(8, "Examples per SFT step.")
    sft_learning_rate: float = _f(5e-5, "AdamW learning rate of the SFT phase.")

    # --- ray ------------------------------------------------------------------------------------
    ray_address: str = _f("", "Ray cluster address ('' = start a local cluster).")
    rollout_workers: int = _f(1, "Ray rollout actors.")
    judge_workers: int = _f(1, "Ray reward/judge actors.")
    learner_workers: int = _f(1, "Ray learner actors (FSDP on GPUs, gloo data parallel on CPU).")
    gpus_per_worker: float = _f(0.0, "GPUs per Ray rollout/learner actor (0 on CPU).")
    judge_gpus_per_worker: float = _f(0.0, "GPUs per Ray judge actor; they serve judge_serve (judge=llm).")
    judge_serve: str = _f("", "Judge model each GPU judge actor serves with `vllm serve` (judge=llm; '' = none).")

    # --- bookkeeping ----------------------------------------------------------------------------
    preset: str = _f("", "The preset this config started from (recorded, not interpreted).")
    notes: str = _f("", "Free text recorded with the run.")

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        self.validate()
        return self

    def validate(self) -> None:  # type: ignore[override]  # BaseModel.validate is pydantic v1's deprecated alias
        """Reject combinations that cannot run, naming the field and the fix."""

        def bad(msg: str) -> None:
            raise ConfigError(msg)

        if self.kind not in KINDS:
            bad(f"kind={self.kind!r} is unknown; use one of {KINDS}.")
        if self.mode not in MODES:
            bad(f"mode={self.mode!r} is unknown; use one of {MODES}.")
        if self.mode == "ray" and not _ray_mode_available():
            bad("mode=ray is not available in this build (training.orchestration.ray_mode is missing); use mode=local.")
        if self.lr_scheduler not in LR_SCHEDULERS:
            bad(f"lr_scheduler={self.lr_scheduler!r} is unknown; use one of {LR_SCHEDULERS}.")
        if not 0.0 <= self.warmup_ratio < 1.0 or not 0.0 <= self.min_lr_ratio <= 1.0:
            bad("warmup_ratio must be in [0, 1) and min_lr_ratio in [0, 1].")
        if self.lora_rank < 0 or (self.lora_rank > 0 and self.lora_alpha < 1):
            bad(f"lora_rank={self.lora_rank} must be >= 0 (0 = full fine-tuning) and lora_alpha >= 1.")
        if not 0.0 <= self.lora_dropout < 1.0:
            bad(f"lora_dropout={self.lora_dropout} must be in [0, 1).")
        if self.lora_rank > 0 and self.mode == "ray":
            bad("lora_rank > 0 runs in mode=local only (Ray rollout workers load full weights); use mode=local.")
        if self.lora_rank > 0 and not self.lora_modules:
            bad("lora_target_modules is empty; name the layers to adapt, e.g. q_proj,v_proj, or all-linear.")
        if self.rollout_engine not in ROLLOUT_ENGINES:
            bad(f"rollout_engine={self.rollout_engine!r} is unknown; use one of {ROLLOUT_ENGINES}.")
        if self.rollout_engine == "vllm" and self.mode != "local":
            bad("rollout_engine=vllm runs in mode=local (an engine inside the learner's process); use mode=local.")
        if self.time_limit_minutes < 0:
            bad(f"time_limit_minutes={self.time_limit_minutes} must be >= 0 (0 = no limit).")
        if not 0.0 < self.vllm_gpu_memory_utilization < 1.0:
            bad(f"vllm_gpu_memory_utilization={self.vllm_gpu_memory_utilization} must be in (0, 1).")
        if self.dtype not in DTYPES:
            bad(f"dtype={self.dtype!r} is unknown; use one of {DTYPES}.")
        if self.scale_rewards not in SCALE_REWARDS:
            bad(f"scale_rewards={self.scale_rewards!r} is unknown; use one of {SCALE_REWARDS}.")
        if self.loss_aggregation not in LOSS_AGGREGATIONS:
            bad(f"loss_aggregation={self.loss_aggregation!r} is unknown; use one of {LOSS_AGGREGATIONS}.")
        if self.reward not in REWARDS:
            bad(f"reward={self.reward!r} is unknown; use one of {REWARDS}.")
        if self.judge not in JUDGES:
            bad(f"judge={self.judge!r} is unknown; use one of {JUDGES}.")
        judge_endpoint = self.judge_base_url or self.judge_serve
        if self.reward == "full" and self.judge == "llm" and not (judge_endpoint and self.judge_model):
            bad("judge=llm needs judge_base_url and judge_model; set both, or use judge=fact.")
        if (self.judge_serve or self.judge_gpus_per_worker > 0) and not (
            self.mode == "ray" and self.judge == "llm" and self.judge_serve and self.judge_gpus_per_worker > 0
        ):
            bad(
                "judge GPUs serve an LLM judge inside Ray: set mode=ray, judge=llm, judge_serve=MODEL, "
                "judge_model=NAME and judge_gpus_per_worker > 0 together (or neither judge_serve nor judge GPUs)."
            )
        for name in ("steps", "prompts_per_step", "save_every", "max_new_tokens", "max_prompt_tokens",
                     "num_iterations", "mini_batches", "micro_batch_tokens", "sft_batch_size",
                     "rollout_workers", "judge_workers", "learner_workers"):  # fmt: skip
            if getattr(self, name) < 1:
                bad(f"{name}={getattr(self, name)} must be at least 1.")
        if self.kind == "grpo" and self.num_generations < 2:
            bad(
                f"num_generations={self.num_generations}: GRPO compares completions within a group, so G must be "
                "at least 2 (the recipe uses 4)."
            )
        if self.kind == "sft" and self.sft_steps < 1 and self.steps < 1:
            bad("kind=sft needs steps >= 1.")
        if self.sft_steps < 0 or self.keep_checkpoints < 0:
            bad("sft_steps and keep_checkpoints cannot be negative.")
        if not 0.0 <= self.epsilon_low < 1.0:
            bad(
                f"epsilon_low={self.epsilon_low} must be in [0, 1): the ratio floor 1 - epsilon_low must stay positive."
            )
        if self.epsilon_high < 0.0:
            bad(f"epsilon_high={self.epsilon_high} must be >= 0.")
        if self.beta < 0.0:
            bad(f"beta={self.beta} must be >= 0 (0 disables the KL term and the reference model).")
        if self.temperature <= 0.0:
            bad(f"temperature={self.temperature} must be > 0; GRPO needs sampled, varied completions.")
        if self.top_p != 1.0:
            bad(
                f"top_p={self.top_p}: rollouts must sample the full distribution (top_p=1.0), because the learner's "
                "log-probs ignore nucleus truncation and the ratio and KL would be computed off-policy."
            )
        if self.kl_estimator not in KL_ESTIMATORS:
            bad(f"kl_estimator={self.kl_estimator!r} is unknown; use one of {KL_ESTIMATORS}.")
        if self.learning_rate <= 0 or self.sft_learning_rate <= 0:
            bad("learning_rate and sft_learning_rate must be > 0.")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            bad("weight_decay and max_grad_norm must be >= 0.")
        if self.mini_batches > self.prompts_per_step * self.num_generations:
            bad(
                f"mini_batches={self.mini_batches} exceeds the {self.prompts_per_step * self.num_generations} "
                "completions of a step; lower mini_batches or raise prompts_per_step."
            )
        if self.micro_batch_tokens < self.max_new_tokens:
            bad(
                f"micro_batch_tokens={self.micro_batch_tokens} is smaller than max_new_tokens={self.max_new_tokens}: "
                "one completion would not fit in a micro-batch; raise micro_batch_tokens."
            )
        if self.device.startswith("cuda") and self.mode == "ray" and self.gpus_per_worker <= 0:
            bad("mode=ray on cuda needs gpus_per_worker > 0 so Ray places actors on GPUs.")

    # --- conversions ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    @property
    def lora_modules(self) -> list[str] | str:
        """peft's target_modules: a list of names, or the string 'all-linear'."""
        text = self.lora_target_modules.strip()
        if text == "all-linear":
            return text
        return [m.strip() for m in text.split(",") if m.strip()]

    def lr_factor(self, position: int, total: int) -> float:
        """The learning rate's share of its peak at 0-based `position` of a phase of `total` steps."""
        if total < 1:
            return 1.0
        warmup = math.ceil(self.warmup_ratio * total)
        if position < warmup:
            return (position + 1) / (warmup + 1)
        if self.lr_scheduler == "constant" or total - warmup <= 1:
            return 1.0
        progress = min((position - warmup) / (total - warmup - 1), 1.0)
        return self.min_lr_ratio + (1.0 - self.min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    @property
    def uses_reference_model(self) -> bool:
        return self.beta > 0.0

    @property
    def updates_per_step(self) -> int:
        return self.num_iterations * self.mini_batches

    @classmethod
    def fields_help(cls) -> dict[str, str]:
        return {name: f.description or "" for name, f in cls.model_fields.items()}


PRESETS: dict[str, dict[str, Any]] = {
    "recipe": {
        "num_generations": 4,
        "temperature": 1.0,
        "max_new_tokens": 1024,
        "epsilon_low": 0.4,
        "epsilon_high": 0.5,
        "beta": 0.05,
        "learning_rate": 3e-6,
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "reward": "full",
        "loss_aggregation": "sequence",
        "scale_rewards": "group",
        "lr_scheduler": "cosine",
        "warmup_ratio": 0.05,
    },
    "dapo": {
        "num_generations": 4,
        "temperature": 1.0,
        "max_new_tokens": 1024,
        "epsilon_low": 0.2,
        "epsilon_high": 0.28,
        "beta": 0.0,
        "learning_rate": 3e-6,
        "weight_decay": 0.01,
        "max_grad_norm": 1.0,
        "reward": "full",
        "loss_aggregation": "token",
        "scale_rewards": "group",
        "lr_scheduler": "cosine",
        "warmup_ratio": 0.05,
    },
    "tiny-cpu": {
        "steps": 3,
        "prompts_per_step": 2,
        "num_generations": 2,
        "max_new_tokens": 32,
        "max_prompt_tokens": 384,
        "save_every": 2,
        "epsilon_low": 0.4,
        "epsilon_high": 0.5,
        "beta": 0.05,
        "learning_rate": 1e-5,
        "weight_decay": 0.01,
        "reward": "shaped",
        "micro_batch_tokens": 4096,
        "dtype": "float32",
        "device": "cpu",
        "sft_batch_size": 2,
    },
}


def _coerce(name: str, raw: Any, annotation: Any) -> Any:
    """Turn an override (a string from the CLI/admin, or a JSON value) into the field's type."""
    if not isinstance(raw, str):
        return raw
    text = raw.strip()
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    optional = origin in (typing.Union, types.UnionType) and type(None) in args
    if optional:
        if text.lower() in ("none", "null", ""):
            return None
        annotation = next(a for a in args if a is not type(None))
    try:
        if annotation is bool:
            if text.lower() in ("1", "true", "yes", "on"):
                return True
            if text.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(text)
        if annotation is int:
            if "e" in text.lower():  # 1e3 is a whole number written as a float
                number = float(text)
                if not number.is_integer():
                    raise ValueError(text)
                return int(number)
            return int(text)
        if annotation is float:
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a valid {annotation.__name__}; e.g. --set {name}=...") from None
    return text


def build_config(preset: str | None = "recipe", overrides: dict[str, Any] | None = None, **kw: Any) -> TrainConfig:
    """The preset's values, then `overrides` (strings or JSON values), validated once at the end."""
    if preset and preset not in PRESETS:
        raise ConfigError(f"preset {preset!r} is unknown; use one of {sorted(PRESETS)}.")
    hints = {name: f.annotation for name, f in TrainConfig.model_fields.items()}
    values: dict[str, Any] = dict(PRESETS.get(preset or "", {}))
    for name, raw in {**(overrides or {}), **kw}.items():
        if name not in hints:
            close = difflib.get_close_matches(name, list(hints), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown setting {name!r}.{hint} See `python -m training.train --help-config`.")
        values[name] = _coerce(name, raw, hints[name])
    values.setdefault("preset", preset or "")
    return TrainConfig(**values)


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """`["beta=0", "steps=10"]` -> `{"beta": "0", "steps": "10"}`; a pair without `=` is an error."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} must look like key=value, e.g. --set beta=0.05")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Rebuild a config saved with a checkpoint (unknown keys from newer versions are dropped)."""
    names = set(TrainConfig.model_fields)
    return TrainConfig(**{k: v for k, v in data.items() if k in names})


def dumps(cfg: TrainConfig) -> str:
    return json.dumps(cfg.to_dict(), indent=2, sort_keys=True)
