"""Evaluate a model reference on examples: generate, parse, reward, summarise with bootstrap intervals.

Generation goes through `inference.backends` in batches (the transformers backend on CPU/GPU, or an
OpenAI-compatible / vLLM backend), greedy and by default *unconstrained*, so JSON validity measures
the model's own compliance; `constrained_too=True` adds a second, constrained pass whose validity
and reward are reported beside it. The reward is `training.rewards.reward` (the same function GRPO
optimises), so evaluation and training cannot disagree about what a good note is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from inference.schema import SECTION_KEYS
from training.rewards import (
    FactJudge,
    GroundedReferenceJudge,
    ReferenceJudge,
    SectionJudge,
    judge_for_example,
    reward,
)

from .metrics import note_metrics, reference_predictions, summarise
from .stats import Estimate, bootstrap_ci

__all__ = ["EvalReport", "ExampleResult", "evaluate", "resolve_judge"]

log = logging.getLogger(__name__)

JudgeSpec = str | SectionJudge | Callable[[Mapping[str, Any]], SectionJudge]


@dataclass
class ExampleResult:
    key: str
    raw: str = ""
    tokens: int = 0
    finish_reason: str = ""
    seconds: float = 0.0
    valid: bool = False
    valid_strict: bool = False
    format_reason: str | None = None
    scores: dict[str, float | None] = field(default_factory=dict)
    total: float = 0.0
    reasons: dict[str, str] = field(default_factory=dict)
    fact_recall: float | None = None
    unsupported: int | None = None
    judge_errors: int = 0
    error: str | None = None
    constrained_valid: bool | None = None
    constrained_total: float | None = None
    constrained_raw: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)  # metrics.note_metrics: ROUGE, grounding, runaway


@dataclass
class EvalReport:
    """All per-example results of one model on one dataset, plus the summary with 95 % intervals."""

    model_reference: str
    dataset: str
    config: dict[str, Any]
    results: list[ExampleResult]
    seconds: float
    calibration: dict[str, Any] | None = None  # metrics.summarise of the clinicians' own notes

    def summary(self) -> dict[str, Any]:
        res = self.results
        out: dict[str, Estimate] = {
            "json_valid": bootstrap_ci([float(r.valid) for r in res]),
            "json_valid_strict": bootstrap_ci([float(r.valid_strict) for r in res]),
            "format": bootstrap_ci([1.0 if r.valid else 0.0 for r in res]),
            "total": bootstrap_ci([r.total for r in res]),
        }
        for key in SECTION_KEYS:
            out[key] = bootstrap_ci([r.scores[key] for r in res if r.scores.get(key) is not None])
        out["fact_recall"] = bootstrap_ci([r.fact_recall for r in res if r.fact_recall is not None])
        with_unsupported = [r for r in res if r.unsupported is not None]
        out["unsupported_per_note"] = bootstrap_ci([float(r.unsupported) for r in with_unsupported])
        out["unsupported_note_rate"] = bootstrap_ci([float(r.unsupported > 0) for r in with_unsupported])
        out["output_tokens"] = bootstrap_ci([float(r.tokens) for r in res if r.error is None])
        out["output_chars"] = bootstrap_ci([float(len(r.raw)) for r in res if r.error is None])
        out["latency_s"] = bootstrap_ci([r.seconds for r in res if r.error is None])
        out["truncated"] = bootstrap_ci([float(r.finish_reason == "length") for r in res if r.error is None])
        if any(r.constrained_valid is not None for r in res):
            out["json_valid_constrained"] = bootstrap_ci(
                [float(r.constrained_valid) for r in res if r.constrained_valid is not None]
            )
            out["total_constrained"] = bootstrap_ci(
                [r.constrained_total for r in res if r.constrained_total is not None]
            )
        summary: dict[str, Any] = {name: est.as_dict() for name, est in out.items()}
        rows = [r.metrics for r in res if r.metrics]
        if rows:  # the standard metrics; names already above (truncated) keep their meaning
            for name, value in summarise(rows).items():
                summary.setdefault(name, value)
        summary["examples"] = len(res)
        summary["generation_errors"] = sum(r.error is not None for r in res)
        summary["judge_errors"] = sum(r.judge_errors for r in res)
        summary["seconds"] = self.seconds
        return summary

    def as_dict(self) -> dict[str, Any]:
        return {
            "model_reference": self.model_reference,
            "dataset": self.dataset,
            "config": self.config,
            "summary": self.summary(),
            "calibration": self.calibration,
            "results": [asdict(r) for r in self.results],
        }


def resolve_judge(spec: JudgeSpec, judge_url: str | None = None, judge_model: str = "judge") -> Callable:
    """A per-example judge factory from 'auto' | 'fact' | 'reference' | 'grounded' | 'llm' | a judge | a factory.

    'grounded' is the full reward's judge: content against the reference x grounding in the dialogue.

    The factory carries `judge_name` so reports say which judge scored them.
    """
    if callable(spec) and not hasattr(spec, "judge"):
        return spec
    if not isinstance(spec, str):
        factory: Any = lambda example: spec  # noqa: E731
        factory.judge_name = getattr(spec, "name", type(spec).__name__)
        return factory
    if spec == "auto":
        factory = lambda example: judge_for_example(example)  # noqa: E731
    elif spec == "fact":
        factory = lambda example: FactJudge(example.get("facts") or [])  # noqa: E731
    elif spec == "reference":
        reference_judge = ReferenceJudge()
        factory = lambda example: reference_judge  # noqa: E731
    elif spec == "grounded":
        grounded_judge = GroundedReferenceJudge()
        factory = lambda example: grounded_judge  # noqa: E731
    elif spec == "llm":
        if not judge_url:
            raise ValueError("judge 'llm' needs a judge URL (--judge-url http://host:port/v1).")
        from training.rewards import LLMJudge

        llm = LLMJudge(judge_url, judge_model)
        factory = lambda example: llm  # noqa: E731
    else:
        raise ValueError(f"Unknown judge {spec!r}; choose auto, fact, reference, grounded or llm.")
    factory.judge_name = spec
    return factory


def _generate(
    backend: Any, examples: Sequence[Mapping[str, Any]], params: Any, batch_size: int, few_shot: bool, progress
) -> list[tuple[Any, float, str | None]]:
    """(completion or None, seconds per note, error) per example, in order, batch by batch."""
    from inference.errors import GenerationError
    from inference.prompts import build_messages

    out: list[tuple[Any, float, str | None]] = []
    for start in range(0, len(examples), batch_size):
        batch = examples[start : start + batch_size]
        prompts = [build_messages(ex["dialogue"], few_shot=few_shot) for ex in batch]
        began = time.perf_counter()
        try:
            completions = backend.generate(prompts, params)
            per_note = (time.perf_counter() - began) / len(batch)
            out.extend((c, per_note, None) for c in completions)
        except GenerationError as exc:
            log.warning("batch at %d failed (%s); retrying one by one", start, exc)
            for prompt in prompts:
                began = time.perf_counter()
                try:
                    completion = backend.generate([prompt], params)[0]
                    out.append((completion, time.perf_counter() - began, None))
                except GenerationError as one:
                    out.append((None, 0.0, f"{type(one).__name__}: {one}"))
        if progress:
            progress(len(out), len(examples))
    return out


def _score(example: Mapping[str, Any], raw: str, judge_for: Callable, result: ExampleResult) -> None:
    from inference.parsing import parse_note

    prediction = {"raw": raw, "finish_reason": result.finish_reason, "error": result.error}
    result.metrics = note_metrics(example, prediction)
    reference = example.get("reference") or {}
    breakdown = reward(example["dialogue"], raw, reference, judge_for(example))
    result.valid = breakdown.format == 1.0
    result.valid_strict = parse_note(raw, strict=True).ok
    result.format_reason = breakdown.details.get("format_reason")
    result.total = breakdown.total
    for key in SECTION_KEYS:
        scored = reference.get(key) is not None
        result.scores[key] = getattr(breakdown, key) if scored else None
        detail = breakdown.details.get(key) or {}
        result.reasons[key] = detail.get("reason", "")
        result.judge_errors += bool(detail.get("error"))
    facts = example.get("facts") or []
    if facts:
        parsed = parse_note(raw)
        if parsed.ok:
            verdicts = FactJudge(facts).judge_note(example["dialogue"], parsed.note.as_dict(), reference)
            gold = sum(v.details.get("gold", 0) for v in verdicts.values())
            matched = sum(v.details.get("matched", 0) for v in verdicts.values())
            result.fact_recall = matched / gold if gold else None
            result.unsupported = sum(len(v.details.get("unsupported", [])) for v in verdicts.values())
        else:
            result.fact_recall = 0.0


def evaluate(
    model_ref: str | None,
    examples: Sequence[Mapping[str, Any]],
    *,
    judge: JudgeSpec = "auto",
    constrained: bool = False,
    limit: int | None = None,
    backend: str | Any | None = None,
    max_new_tokens: int = 384,
    batch_size: int = 4,
    constrained_too: bool = False,
    few_shot: bool = False,
    dataset: str = "",
    judge_workers: int = 4,
    progress: Callable[[int, int], None] | None = None,
) -> EvalReport:
    """Generate a note for each example with `model_ref` and score it (see the module docstring).

    `backend` is a backend name ('transformers', 'openai', 'vllm'), a backend object, or None for
    the transformers backend. `judge` is 'auto' (fact judge when the example has facts, else the
    reference judge), 'fact', 'reference', a SectionJudge, or a per-example factory.
    """
    try:
        from inference.backends import SamplingParams, get_backend
    except ImportError:  # older layout: the interface lives in base
        from inference.backends.base import SamplingParams, get_backend

    examples = list(examples)[:limit] if limit else list(examples)
    if not examples:
        raise ValueError("evaluate() got no examples; check the dataset reference and --limit.")
    engine = backend if hasattr(backend, "generate") else get_backend(backend, model_ref)
    judge_for = resolve_judge(judge)
    began = time.perf_counter()
    params = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, constrained=constrained)
    generated = _generate(engine, examples, params, batch_size, few_shot, progress)
    results: list[ExampleResult] = []
    for example, (completion, seconds, error) in zip(examples, generated, strict=True):
        result = ExampleResult(key=str(example.get("key", len(results))), seconds=seconds, error=error)
        if completion is not None:
            result.raw = completion.text
            result.tokens = len(completion.token_ids)
            result.finish_reason = completion.finish_reason
        results.append(result)

    def score(pair: tuple[Mapping[str, Any], ExampleResult]) -> None:
        _score(pair[0], pair[1].raw, judge_for, pair[1])

    with ThreadPoolExecutor(max_workers=judge_workers) as pool:
        list(pool.map(score, zip(examples, results, strict=True)))

    if constrained_too and not constrained:
        from inference.parsing import parse_note

        params_c = SamplingParams(max_new_tokens=max_new_tokens, temperature=0.0, constrained=True)
        for example, result, (completion, _, error) in zip(
            examples, results, _generate(engine, examples, params_c, batch_size, few_shot, None), strict=True
        ):
            if error is not None or completion is None:
                result.constrained_valid, result.constrained_total = False, 0.0
                continue
            result.constrained_raw = completion.text
            result.constrained_valid = parse_note(completion.text).ok
            judge_c = judge_for(example)
            result.constrained_total = reward(example["dialogue"], completion.text, example["reference"], judge_c).total
    config = {
        "model": model_ref or "default",
        "backend": getattr(engine, "name", str(backend)),
        "judge": getattr(judge_for, "judge_name", None) or getattr(judge, "name", type(judge).__name__),
        "constrained": constrained,
        "constrained_too": constrained_too,
        "max_new_tokens": max_new_tokens,
        "batch_size": batch_size,
        "few_shot": few_shot,
        "limit": limit,
        "examples": len(examples),
    }
    calibration = summarise(
        [note_metrics(ex, p) for ex, p in zip(examples, reference_predictions(examples), strict=True)]
    )
    return EvalReport(
        model_reference=model_ref or "default",
        dataset=dataset,
        config=config,
        results=results,
        seconds=time.perf_counter() - began,
        calibration=calibration,
    )
