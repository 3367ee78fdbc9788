"""The synthesis pipeline: sample cases, render dialogues, de-duplicate, split, report.

``synthesize(SynthesisConfig(n=24000), checkpoint_dir=...)`` renders cases in chunks; each
finished chunk is written to ``checkpoint_dir`` atomically, so an interrupted run resumes where it
stopped and renders nothing twice. Case seeds and keys derive from (config.seed, index), so a
re-run produces the same keys and the database layer can insert with "ignore conflicts" and never
duplicate. When de-duplication leaves fewer examples than train + holdout, more cases are rendered
(top-up) and de-duplicated against those already kept.

Example dicts (the shared contract, also the JSONL line format)::

    {key, dialogue: [{speaker, text}], reference: {S, O, A, P},
     facts: [{section, kind, text, surface_forms, value?, unit?}],
     specialty, condition, split, source, seed}
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from inference.schema import Example, ExampleError

from .catalog import Catalog, load_catalog
from .dedup import DEFAULT_THRESHOLD, Embedder, deduplicate
from .render_offline import OfflineRenderer
from .render_realistic import RealisticRenderer
from .report import coverage_report
from .sampler import Case, sample_case

STYLES = ("realistic", "tidy")
EXAMPLE_KEYS = ("key", "dialogue", "reference", "facts", "specialty", "condition", "split", "source", "seed")
Progress = Callable[[str, int, int], None]


class SynthesisError(RuntimeError):
    """A synthesis run cannot proceed; the message says what to change."""


class Renderer(Protocol):
    name: str

    def render(self, case: Case) -> list[dict[str, str]]: ...


@dataclass
class SynthesisConfig:
    """How a dataset is made; recorded with the dataset so a run can be reproduced exactly."""

    n: int = field(default=24000, metadata={"help": "Cases rendered in the first pass (before de-duplication)."})
    train: int = field(default=19939, metadata={"help": "Train examples to keep (the published recipe: 19,939)."})
    holdout: int = field(default=4028, metadata={"help": "Holdout examples to keep (the published recipe: 4,028)."})
    seed: int = field(default=0, metadata={"help": "Base seed; case i gets a seed derived from (seed, i)."})
    renderer: str = field(default="offline", metadata={"help": "offline (templates) or llm (OpenAI-compatible)."})
    style: str = field(
        default="realistic",
        metadata={
            "help": "Offline visits: realistic (long, speech-recognised, clinician-style notes, facts only when "
            "said) or tidy (short scripted visits that state every fact, compact notes)."
        },
    )
    threshold: float | None = field(
        default=DEFAULT_THRESHOLD, metadata={"help": "Cosine threshold; None = exact only."}
    )
    holdout_by_condition: bool = field(default=False, metadata={"help": "Holdout conditions never seen in train."})
    chunk_size: int = field(default=1000, metadata={"help": "Cases per checkpointed chunk."})
    max_topups: int = field(default=3, metadata={"help": "Extra render rounds when dedup leaves too few."})
    llm: dict[str, Any] = field(default_factory=dict, metadata={"help": "LLMRenderer options (base_url, model, ...)."})

    def __post_init__(self) -> None:
        if self.n < 1:
            raise SynthesisError(f"n={self.n}: render at least one case")
        if self.train < 0 or self.holdout < 0:
            raise SynthesisError(f"train={self.train}, holdout={self.holdout}: split sizes cannot be negative")
        if self.renderer not in ("offline", "llm"):
            raise SynthesisError(f"renderer={self.renderer!r}: use 'offline' or 'llm'")
        if self.style not in STYLES:
            raise SynthesisError(f"style={self.style!r}: use one of {', '.join(STYLES)}")
        if self.renderer == "llm" and not self.llm.get("base_url"):
            raise SynthesisError("renderer='llm' needs llm={'base_url': 'http://host:port/v1', 'model': ...}")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise SynthesisError(f"threshold={self.threshold}: a cosine threshold is in (0, 1]; 0.97 is the default")
        if self.chunk_size < 1:
            raise SynthesisError(f"chunk_size={self.chunk_size} must be positive")

    @classmethod
    def scaled(cls, n: int, **overrides: Any) -> SynthesisConfig:
        """A config for `n` cases with train/holdout in the recipe's 19,939 : 4,028 ratio."""
        holdout = round(n * 4028 / 23967)
        kwargs: dict[str, Any] = {"n": n, "train": n - holdout, "holdout": holdout}
        kwargs.update(overrides)
        return cls(**kwargs)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def case_seed(base_seed: int, index: int) -> int:
    digest = hashlib.blake2b(f"{base_seed}:{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 11  # 53 bits: exact in JSON and a BIGINT column


def example_key(base_seed: int, index: int) -> str:
    return f"syn-{base_seed}-{index:07d}"


def make_example(case: Case, dialogue: list[dict[str, str]], *, key: str, source: str = "synthetic") -> dict[str, Any]:
    return {
        "key": key,
        "dialogue": dialogue,
        "reference": case.reference_note(),
        "facts": case.fact_dicts(),
        "specialty": case.specialty,
        "condition": case.condition,
        "split": "train",
        "source": source,
        "seed": case.seed,
    }


def render_range(
    config: SynthesisConfig, start: int, stop: int, *, catalog: Catalog | None = None, renderer: Renderer | None = None
) -> list[dict[str, Any]]:
    """Render cases [start, stop); examples a renderer drops (returns no dialogue) are omitted."""
    catalog = catalog or load_catalog()
    renderer = renderer or make_renderer(config)
    cases = [(index, sample_case(catalog, case_seed(config.seed, index))) for index in range(start, stop)]
    render_many = getattr(renderer, "render_many", None)
    render_case = getattr(renderer, "render_case", None)
    if render_many is not None:  # concurrent renderers (LLM) take the whole chunk at once
        dialogues = render_many([case for _, case in cases])
    elif render_case is not None:  # renderers that decide what a visit states return the stated case too
        rendered = [(index, *render_case(case)) for index, case in cases]
        cases = [(index, case) for index, case, _ in rendered]
        dialogues = [dialogue for _, _, dialogue in rendered]
    else:
        dialogues = [renderer.render(case) for _, case in cases]
    return [
        make_example(case, dialogue, key=example_key(config.seed, index))
        for (index, case), dialogue in zip(cases, dialogues, strict=True)
        if dialogue
    ]


def make_renderer(config: SynthesisConfig) -> Renderer:
    if config.renderer == "offline":
        return RealisticRenderer() if config.style == "realistic" else OfflineRenderer()
    from .render_llm import LLMRenderer

    return LLMRenderer(**config.llm)


# ---------------------------------------------------------------------------------------------- JSONL


def write_jsonl(examples: Iterable[dict[str, Any]], path: Path | str) -> int:
    """Write examples atomically (temp file then rename); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    count = 0
    try:
        with tmp.open("w", encoding="utf-8") as handle:
            for example in examples:
                problem = validate_example(example)
                if problem:
                    raise SynthesisError(f"example {example.get('key', '?')!r} cannot be written: {problem}")
                handle.write(json.dumps({k: example[k] for k in EXAMPLE_KEYS}, ensure_ascii=False) + "\n")
                count += 1
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return count


def read_jsonl(path: Path | str) -> Iterator[dict[str, Any]]:
    """Read and validate examples; a malformed line raises SynthesisError naming file and line."""
    with Path(path).open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SynthesisError(f"{path}:{number}: not JSON ({exc.msg}); each line must be one example") from exc
            problem = validate_example(example)
            if problem:
                raise SynthesisError(f"{path}:{number}: {problem}")
            yield example


STORE_SPLITS = ("train", "holdout")  # the splits a synthetic dataset (and the clinic's store) holds


def validate_example(example: Any) -> str | None:
    """Why a dict is not a valid example (None when valid): the `inference.schema.Example` contract,
    plus the two splits a synthetic dataset has."""
    try:
        checked = Example.check(example)
    except ExampleError as exc:
        return str(exc)
    if not checked.key:
        return "missing field 'key'; a stored example needs a unique key"
    if checked.split not in STORE_SPLITS:
        return f"split {checked.split!r} must be 'train' or 'holdout'"
    return None


# ---------------------------------------------------------------------------------------------- splits


def assign_splits(
    examples: list[dict[str, Any]], *, train: int, holdout: int, seed: int = 0, by_condition: bool = False
) -> tuple[list[dict[str, Any]], int]:
    """Label examples train/holdout; returns (labelled examples, surplus dropped).

    By case (default): a seeded shuffle, first `holdout` to holdout. By condition: whole
    conditions go to holdout until it is full, so no holdout condition appears in train.
    """
    rng = random.Random(seed)
    order = examples[:]
    rng.shuffle(order)
    if by_condition:
        conditions = sorted({e["condition"] for e in order})
        rng.shuffle(conditions)
        held: set[str] = set()
        count = 0
        by_cond: dict[str, int] = {}
        for e in order:
            by_cond[e["condition"]] = by_cond.get(e["condition"], 0) + 1
        for name in conditions:
            if count >= holdout:
                break
            held.add(name)
            count += by_cond[name]
        hold = [e for e in order if e["condition"] in held][:holdout]
        rest = [e for e in order if e["condition"] not in held][:train]
    else:
        hold, rest = order[:holdout], order[holdout : holdout + train]
    for e in hold:
        e["split"] = "holdout"
    for e in rest:
        e["split"] = "train"
    chosen = {id(e) for e in hold} | {id(e) for e in rest}
    ordered = [e for e in examples if id(e) in chosen]
    return ordered, len(examples) - len(ordered)


# ---------------------------------------------------------------------------------------------- run


@dataclass
class SynthesisResult:
    examples: list[dict[str, Any]]
    report: dict[str, Any]


def _chunk_path(directory: Path, start: int, stop: int) -> Path:
    return directory / f"render-{start:07d}-{stop:07d}.jsonl"


def _render_chunks(
    config: SynthesisConfig,
    start: int,
    stop: int,
    checkpoint_dir: Path | None,
    renderer: Renderer,
    on_progress: Progress | None,
    should_stop: Callable[[], bool] | None,
) -> tuple[list[dict[str, Any]], int]:
    catalog = load_catalog()
    out: list[dict[str, Any]] = []
    resumed = 0
    total = stop - start
    for lo in range(start, stop, config.chunk_size):
        hi = min(lo + config.chunk_size, stop)
        path = _chunk_path(checkpoint_dir, lo, hi) if checkpoint_dir else None
        if path is not None and path.exists():
            out += list(read_jsonl(path))
            resumed += hi - lo
        else:
            if should_stop is not None and should_stop():
                raise SynthesisInterrupted(f"stopped before cases {lo}-{hi}; re-run to resume")
            chunk = render_range(config, lo, hi, catalog=catalog, renderer=renderer)
            if path is not None:
                write_jsonl(chunk, path)
            out += chunk
        if on_progress:
            on_progress("render", hi - start, total)
    return out, resumed


class SynthesisInterrupted(SynthesisError):
    """The run was asked to stop; everything rendered so far is checkpointed."""


def synthesize(
    config: SynthesisConfig,
    *,
    checkpoint_dir: Path | str | None = None,
    renderer: Renderer | None = None,
    embedder: Embedder | None = None,
    on_progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SynthesisResult:
    """Run the whole pipeline and return labelled examples with a coverage/dedup report."""
    started = time.perf_counter()
    directory = Path(checkpoint_dir) if checkpoint_dir else None
    if directory:
        directory.mkdir(parents=True, exist_ok=True)
    renderer = renderer or make_renderer(config)
    if directory and hasattr(renderer, "checkpoint") and renderer.checkpoint is None:
        renderer.checkpoint = directory / "llm-cases.jsonl"  # per-case resume inside a chunk
    target = config.train + config.holdout
    render_start = time.perf_counter()
    rendered, resumed = _render_chunks(config, 0, config.n, directory, renderer, on_progress, should_stop)
    render_seconds = time.perf_counter() - render_start
    if config.threshold is not None and embedder is None:
        embedder = Embedder(cache_path=directory / "embeddings.npz" if directory else None)

    def dedup_progress(done: int) -> None:
        if on_progress:
            on_progress("dedup", done, len(rendered))

    seen: set[str] = set()
    kept, report, vectors = deduplicate(
        rendered, threshold=config.threshold, embedder=embedder, seen=seen, on_progress=dedup_progress
    )
    dedup = report.as_dict()
    next_index, topups = config.n, 0
    while len(kept) < target and topups < config.max_topups:
        topups += 1
        need = target - len(kept)
        extra_n = max(need + need // 2 + 10, 50)
        extra, more = _render_chunks(
            config, next_index, next_index + extra_n, directory, renderer, on_progress, should_stop
        )
        resumed += more
        next_index += extra_n
        added, extra_report, vectors = deduplicate(
            extra, threshold=config.threshold, embedder=embedder, against=vectors, seen=seen
        )
        kept += added
        for name in ("total", "exact_dropped", "semantic_dropped"):
            dedup[name] += getattr(extra_report, name) if name != "total" else len(extra)
        dedup["kept"] = len(kept)
    dedup["duplicate_rate"] = round((dedup["exact_dropped"] + dedup["semantic_dropped"]) / max(dedup["total"], 1), 5)
    if len(kept) < target:
        short = target - len(kept)
        raise SynthesisError(
            f"only {len(kept)} unique examples after {topups} top-up(s), {short} short of train+holdout={target}; "
            "raise max_topups, lower the split sizes or raise the dedup threshold"
        )
    labelled, surplus = assign_splits(
        kept, train=config.train, holdout=config.holdout, seed=config.seed, by_condition=config.holdout_by_condition
    )
    report_dict = coverage_report(labelled, catalog=load_catalog())
    report_dict["dedup"] = dedup | {"surplus_dropped": surplus, "topups": topups}
    report_dict["timing"] = {
        "render_seconds": round(render_seconds, 2),
        "total_seconds": round(time.perf_counter() - started, 2),
        "resumed_cases": resumed,
    }
    report_dict["renderer"] = renderer.name
    if getattr(renderer, "fallbacks", 0):
        report_dict["renderer_fallbacks"] = renderer.fallbacks  # type: ignore[attr-defined]
    if getattr(renderer, "turns", 0):  # the realistic renderer's speaker-label noise, over all rendered turns
        report_dict["speaker_labels"] = {
            "turns": renderer.turns,  # type: ignore[attr-defined]
            "unlabeled": renderer.unlabeled_turns,  # type: ignore[attr-defined]
            "swapped": renderer.swapped_turns,  # type: ignore[attr-defined]
        }
    return SynthesisResult(examples=labelled, report=report_dict)
