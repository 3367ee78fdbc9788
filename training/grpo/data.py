"""Training examples and the order a run visits them in.

Examples are the plain dicts of COMMON.md (`dialogue`, `reference`, `facts`, ...), read from
JSONL or handed over by the caller (the Celery task reads them from the database). The order is
a pure function of (seed, step): each epoch is a seeded permutation, so a run resumed at step k
sees exactly the prompts it would have seen, with no data-loader state to save.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from inference.prompts import build_messages, render_prompt
from inference.schema import SECTION_KEYS, Example, ExampleError


class DataError(ValueError):
    """A dataset that cannot be trained on; the message names the file, the line and the fix."""


def check_example(example: Mapping[str, Any], where: str, *, default_key: str = "") -> dict[str, Any]:
    """`example` checked against the one `inference.schema.Example` contract, as a plain dict."""
    try:
        return Example.check(example, default_key=default_key).as_dict()
    except ExampleError as exc:
        raise DataError(f"{where}: {exc}.") from None


def load_examples(path: str | Path, *, split: str = "train") -> list[dict[str, Any]]:
    """Examples for `--data`: a JSONL file, a public dataset, or a weighted mix of them.

    `path` is one source or several joined by commas, each optionally repeated with `*N`
    (`aci-bench:train*4,var/datasets/synth.jsonl`: the 67 real visits four times beside the synthetic
    ones). A source is a JSONL file of examples (`split` filters it; '' keeps all) or a public
    dataset reference (`aci-bench:train`, `mts-dialog:train`: its split is in the reference).
    Bad lines are errors, never skipped.
    """
    sources = [part.strip() for part in str(path).split(",") if part.strip()]
    if len(sources) > 1 or _weighted(str(path)) or _is_public(str(path)):
        out: list[dict[str, Any]] = []
        for source in sources:
            ref, times = _weighted(source) or (source, 1)
            out.extend(_load_one(ref, split) * times)
        return out
    return _load_jsonl(Path(path), split)


def _weighted(source: str) -> tuple[str, int] | None:
    ref, star, times = source.rpartition("*")
    if not star or not times.strip().isdigit() or int(times) < 1:
        return None
    return ref.strip(), int(times)


def _is_public(source: str) -> bool:
    return source.split(":", 1)[0] in ("aci-bench", "mts-dialog")


def _load_one(ref: str, split: str) -> list[dict[str, Any]]:
    if not _is_public(ref):
        return _load_jsonl(Path(ref), split)
    from training.evaluation.datasets import DatasetError
    from training.evaluation.datasets import load_examples as load_public

    try:
        examples = load_public(ref)
    except DatasetError as exc:
        raise DataError(str(exc)) from None
    out = []
    for i, ex in enumerate(examples):
        # Public splits are chosen in the reference and count as training data here; a partial reference
        # (MTS-Dialog: one section) keeps only the sections it has.
        reference = {k: v for k, v in (ex.get("reference") or {}).items() if v is not None}
        out.append(check_example({**ex, "reference": reference, "split": "train"}, f"{ref} {ex.get('key', i)}"))
    return out


def _load_jsonl(path: Path, split: str) -> list[dict[str, Any]]:
    if not path.is_file():
        raise DataError(
            f"dataset {str(path)!r} does not exist; pass a JSONL file of examples, a public dataset such as "
            "aci-bench:train, or a mix like aci-bench:train*4,synth.jsonl (--data)."
        )
    out: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{n}: not JSON ({exc.msg}); each line must be one example object.") from None
            if not isinstance(obj, dict):
                raise DataError(f"{path}:{n}: each line must be a JSON object, got {type(obj).__name__}.")
            ex = check_example(obj, f"{path}:{n}", default_key=f"{path.stem}-{n}")
            if not split or ex.get("split", "train") == split:
                out.append(ex)
    if not out:
        raise DataError(f"{path}: no examples with split={split!r}; pass --set split= to use every example.")
    return out


def write_examples(path: str | Path, examples: Iterable[Mapping[str, Any]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for ex in examples:
            fh.write(json.dumps(dict(ex), ensure_ascii=False) + "\n")
    return path


def indices_for_step(n_examples: int, step: int, per_step: int, seed: int) -> list[int]:
    """Example indices for 0-based `step`: consecutive slices of per-epoch seeded permutations."""
    if n_examples < 1:
        raise DataError("no examples to train on.")
    out = []
    cache: dict[int, list[int]] = {}
    for pos in range(step * per_step, (step + 1) * per_step):
        epoch, offset = divmod(pos, n_examples)
        if epoch not in cache:
            perm = list(range(n_examples))
            random.Random(seed * 1_000_003 + epoch).shuffle(perm)
            cache[epoch] = perm
        out.append(cache[epoch][offset])
    return out


def prompt_text(tokenizer: Any, example: Mapping[str, Any], *, few_shot: bool, max_tokens: int) -> str:
    """The rendered chat prompt; the oldest turns are dropped until it fits `max_tokens` tokens."""
    turns = list(example["dialogue"])
    while True:
        text = render_prompt(tokenizer, build_messages(turns, few_shot=few_shot))
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= max_tokens:
            return text
        if len(turns) <= 1:
            raise DataError(
                f"example {example.get('key', '?')!r}: one turn alone is {len(ids)} prompt tokens, over "
                f"max_prompt_tokens={max_tokens}; raise max_prompt_tokens or split the turn."
            )
        turns = turns[1:]


def target_text(example: Mapping[str, Any]) -> str:
    """The gold completion for SFT: the reference note as compact JSON, exactly the output contract."""
    ref = example.get("reference") or {}
    return json.dumps({k: str(ref.get(k) or "") for k in SECTION_KEYS}, ensure_ascii=False)
