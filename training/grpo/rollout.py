"""Rollouts: G sampled completions per prompt from the *current* policy weights.

Generation goes through `inference.backends.TransformersBackend` (the app's own sampler), but
bound to the learner's live module instead of a separately loaded copy: in local mode every
optimiser step is visible to the very next rollout with no copying. `RolloutWorker` is the same
thing for a separate process (a Ray actor): it owns a model copy and takes new weights with
`load_weights` after each step.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopPLogitsWarper

from inference.backends.base import SamplingParams
from inference.backends.transformers import TransformersBackend


@dataclass
class Sample:
    """One completion of one prompt, in token ids (what the learner trains on) and text (what is scored)."""

    group: int  # index of its prompt within the step
    prompt_ids: list[int]
    completion_ids: list[int]  # includes the stop token when the model stopped
    text: str
    finish_reason: str
    extra: dict[str, Any] = field(default_factory=dict)


def to_samples(completions: list[Any], prompt_ids: list[list[int]], n: int) -> list[Sample]:
    """Samples from a backend's completions (n per prompt, grouped by prompt), in token ids and text.

    Both backends keep the stop token out of `token_ids` and name it in `extra["stop_token_id"]`: the one
    the model actually sampled (of possibly several EOS ids) ends the sequence the learner trains on.
    """
    samples = []
    for i, c in enumerate(completions):
        group = i // n
        ids = list(c.token_ids) + ([int(c.extra["stop_token_id"])] if "stop_token_id" in c.extra else [])
        samples.append(Sample(group, list(prompt_ids[group]), ids, c.text, c.finish_reason))
    return samples


@dataclass(frozen=True)
class NoteDecoding:
    """Rollouts decoded as the app decodes a note (`rollout_constrained=true`).

    `grounded_numbers[i]` holds the numbers prompt i's dialogue states (None: numbers unchecked, as with
    SOAP_GROUNDED_NUMBERS=0); `no_repeat_ngram` is the app's guard against repeated runs.
    """

    grounded_numbers: tuple[frozenset[str] | None, ...]
    no_repeat_ngram: int = 0

    def part(self, indices: Sequence[int]) -> NoteDecoding:
        """The same decoding for a subset of the prompts (a Ray rollout actor's share)."""
        return replace(self, grounded_numbers=tuple(self.grounded_numbers[i] for i in indices))


def rollout_params(
    n: int, max_new_tokens: int, temperature: float, top_p: float, seed: int, note: NoteDecoding | None, prompts: int
) -> SamplingParams:
    """SamplingParams of one rollout call: the policy as it is, or (note) the app's note decoding."""
    if note is None:
        return SamplingParams(
            max_new_tokens=max_new_tokens, temperature=temperature, top_p=top_p, n=n, constrained=False, seed=seed
        )
    if len(note.grounded_numbers) != prompts:
        raise ValueError(f"note decoding has numbers for {len(note.grounded_numbers)} prompts, not {prompts}")
    stated = note.grounded_numbers
    return SamplingParams(
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        top_p=top_p,
        n=n,
        constrained=True,
        seed=seed,
        no_repeat_ngram=note.no_repeat_ngram,
        # The backends check numbers for every prompt of a call or for none (as the app's batches do).
        grounded_numbers=None if any(s is None for s in stated) else tuple(s for s in stated if s is not None),
    )


class PolicyBackend(TransformersBackend):
    """A TransformersBackend over a model object we already hold (the learner's policy).

    Build it with `PolicyBackend.from_loaded(model, tokenizer, "policy")`: no second copy is loaded.
    """

    def _processors(
        self, params: SamplingParams, rows: int, on_tokens: Any, prompt_tokens: list[int] | None = None
    ) -> LogitsProcessorList:
        """Unconstrained rollouts (the norm in training) need no grammar engine at all, only the warpers."""
        if params.constrained or on_tokens is not None:
            return super()._processors(params, rows, on_tokens, prompt_tokens)
        processors = LogitsProcessorList()
        if params.temperature > 0:  # greedy (temperature 0) needs no warper; a 0 warper would divide by zero
            if params.temperature != 1.0:
                processors.append(TemperatureLogitsWarper(params.temperature))
            if params.top_p < 1.0:
                processors.append(TopPLogitsWarper(params.top_p))
        return processors


class Rollout:
    """Samples groups of completions with a PolicyBackend; `stats` keeps the last call's throughput."""

    def __init__(
        self, model: Any, tokenizer: Any, *, static_cache: bool = False, max_cache_len: int | None = None
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.backend = PolicyBackend.from_loaded(
            model, tokenizer, "policy", static_cache=static_cache, max_cache_len=max_cache_len
        )
        self.stats: dict[str, float] = {}

    def generate(
        self,
        prompts: list[str],
        *,
        n: int,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seed: int,
        note: NoteDecoding | None = None,
    ) -> list[Sample]:
        """`n` samples for each prompt, flat and grouped by prompt (prompt 0's n, then prompt 1's ...).

        `note` samples with the app's note decoding (`rollout_constrained`); None samples the policy as it is."""
        # The backend tokenizes these same strings the same way, so ids and text agree exactly.
        prompt_ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        params = rollout_params(n, max_new_tokens, temperature, top_p, seed, note, len(prompts))
        was_training = self.model.training
        self.model.eval()  # no dropout, and gradient checkpointing off while sampling
        t0 = time.perf_counter()
        try:
            completions = self.backend.generate(prompts, params)
        finally:
            self.model.train(was_training)
        seconds = time.perf_counter() - t0
        samples = to_samples(completions, prompt_ids, n)
        tokens = sum(len(s.completion_ids) for s in samples)
        self.stats = {"rollout_seconds": seconds, "rollout_tokens": tokens, "rollout_tokens_per_s": tokens / seconds}
        return samples


class VLLMRollout:
    """Rollouts on an in-process vLLM engine (GPU), the learner's weights pushed in whenever they changed.

    Same interface and Samples as `Rollout`. The engine loads `model_path` (the run's starting weights)
    once; before each rollout whose learner version differs from the engine's, every parameter goes
    through the engine's `load_weights` (a LoRA policy merged first), then the prefix cache is reset:
    TRL's colocate sync. Prompt ids come from the learner's tokenizer, so ids and text agree exactly.
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        model_path: str,
        *,
        gpu_memory_utilization: float = 0.3,
        max_model_len: int | None = None,
        seed: int = 0,
        note_rules: bool = False,
    ) -> None:
        from inference.backends.vllm import VLLMBackend

        self.model = model
        self.tokenizer = tokenizer
        # Rollouts that sample the policy as it is go without the note rules, so vLLM keeps its fastest runner
        # and async scheduling; `rollout_constrained` runs need them (note_rules=True).
        self.backend = VLLMBackend(
            model_path,
            gpu_memory_utilization=gpu_memory_utilization,
            max_model_len=max_model_len,
            seed=seed,
            note_rules=note_rules,
        )
        self.synced_version: int | None = None  # None: push before the first rollout (a resumed run)
        self.stats: dict[str, float] = {}

    def sync(self, version: int) -> float:
        """Push the learner's weights if `version` is not the engine's; returns the seconds it took."""
        if version == self.synced_version:
            return 0.0
        t0 = time.perf_counter()
        with torch.no_grad():
            self.backend.load_from_model(self.model)
        self.synced_version = version
        return time.perf_counter() - t0

    def generate(
        self,
        prompts: list[str],
        *,
        n: int,
        max_new_tokens: int,
        temperature: float,
        top_p: float,
        seed: int,
        version: int = 0,
        note: NoteDecoding | None = None,
    ) -> list[Sample]:
        if note is not None and not self.backend.note_rules:
            raise ValueError("this rollout engine was built without the note rules; build it with note_rules=True")
        sync_seconds = self.sync(version)
        prompt_ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        params = rollout_params(n, max_new_tokens, temperature, top_p, seed, note, len(prompts))
        t0 = time.perf_counter()
        completions = self.backend.generate_ids(prompt_ids, params)
        seconds = time.perf_counter() - t0
        samples = to_samples(completions, prompt_ids, n)
        tokens = sum(len(s.completion_ids) for s in samples)
        self.stats = {
            "rollout_seconds": seconds,
            "rollout_tokens": tokens,
            "rollout_tokens_per_s": tokens / seconds,
            "weight_sync_seconds": sync_seconds,
        }
        return samples


def weights_norm(tensors: Mapping[str, torch.Tensor]) -> float:
    """The L2 norm of `tensors`, summed in float64 in name order: identical weights give the identical
    number, so a rollout copy can show that the learner's update reached it (metrics and tests)."""
    return math.sqrt(sum(float(tensors[name].detach().double().square().sum()) for name in sorted(tensors)))


class RolloutWorker:
    """A rollout engine with its own model copy (one per Ray actor); weights arrive after each step."""

    def __init__(self, model_path: str, device: str = "cpu", dtype: str = "float32", seed: int = 0) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        torch.manual_seed(seed)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.tokenizer.padding_side = "left"
        model: Any = AutoModelForCausalLM.from_pretrained(model_path, dtype=getattr(torch, dtype))
        self.model = model.to(device).eval()
        self.rollout = Rollout(self.model, self.tokenizer)
        self.version = 0
        self.weights_norm: float | None = None

    def load_weights(self, state_dict: dict[str, torch.Tensor], version: int) -> int:
        """Take the learner's new weights (tensors from the object store or a broadcast)."""
        self.model.load_state_dict(state_dict, strict=False)
        self.version = version
        own = self.model.state_dict()
        self.weights_norm = weights_norm({name: own[name] for name in state_dict})  # what the model now holds
        return version

    def generate(self, prompts: list[str], **kw: Any) -> tuple[list[Sample], dict[str, float], int]:
        samples = self.rollout.generate(prompts, **kw)
        stats = dict(self.rollout.stats)
        if self.weights_norm is not None:
            stats["rollout_weights_norm"] = self.weights_norm
        return samples, stats, self.version
