"""De-duplication: exact and semantic, blockwise, deterministic, leaving no pair above the threshold."""

from __future__ import annotations

import numpy as np
import pytest

from training.synthesis import DedupReport, deduplicate, max_pairwise_similarity
from training.synthesis.dedup import DedupError, exact_key, semantic_keep


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_exact_key_folds_case_whitespace_and_punctuation():
    assert exact_key("Doctor: Hello,  there!") == exact_key("doctor hello there")
    assert exact_key("doctor: hello") != exact_key("doctor: goodbye")


def test_semantic_keep_drops_near_duplicates_and_keeps_the_first():
    rng = np.random.default_rng(0)
    base = _unit(rng.normal(size=(200, 32)))
    near = _unit(base[:50] + 0.01 * rng.normal(size=(50, 32)))
    embeddings = np.vstack([base, near])
    keep = semantic_keep(embeddings, 0.95, block=37)  # odd block size: duplicates straddle blocks
    assert keep[:200].all() and not keep[200:].any()
    assert max_pairwise_similarity(embeddings[keep], block=64) <= 0.95


def test_blockwise_result_does_not_depend_on_block_size():
    rng = np.random.default_rng(1)
    clustered = _unit(np.repeat(rng.normal(size=(40, 16)), 5, axis=0) + 0.05 * rng.normal(size=(200, 16)))
    masks = [semantic_keep(clustered, 0.97, block=b) for b in (7, 64, 1000)]
    assert all((m == masks[0]).all() for m in masks)
    assert 0 < masks[0].sum() < 200
    assert max_pairwise_similarity(clustered[masks[0]]) <= 0.97


def test_bad_threshold_is_rejected():
    with pytest.raises(DedupError, match="threshold"):
        semantic_keep(np.eye(3, dtype=np.float32), 1.5)


class _FakeEmbedder:
    """Embeddings decided by the test (the model is the I/O seam here)."""

    def __init__(self, vectors):
        self.vectors = vectors

    def encode(self, texts, on_batch=None):
        return _unit(np.asarray([self.vectors[t.split("\n")[0]] for t in texts], dtype=np.float32))


def _example(key: str, first: str, rest: str = "") -> dict:
    return {"key": key, "dialogue": [{"speaker": "doctor", "text": first}, {"speaker": "patient", "text": rest or key}]}


def test_deduplicate_reports_exact_and_semantic_drops():
    examples = [_example("a", "one"), _example("b", "two"), _example("c", "one", "a"), _example("d", "three")]
    vectors = {"doctor: one": [1, 0, 0], "doctor: two": [0, 1, 0], "doctor: three": [0.05, 1, 0]}
    kept, report, kept_vectors = deduplicate(examples, threshold=0.95, embedder=_FakeEmbedder(vectors))
    assert [e["key"] for e in kept] == ["a", "b"]
    assert (report.exact_dropped, report.semantic_dropped, report.kept) == (1, 1, 2)
    assert sorted(report.dropped_keys) == ["c", "d"]
    assert kept_vectors.shape == (2, 3)
    assert isinstance(report, DedupReport) and report.as_dict()["duplicate_rate"] == 0.5


@pytest.mark.slow
def test_real_minilm_embedder_flags_a_reworded_visit_but_not_a_different_one():
    from training.synthesis import Embedder, OfflineRenderer, dedup, load_catalog, sample_case

    catalog = load_catalog()
    case = sample_case(catalog, 11)
    first = OfflineRenderer().render(case)
    reworded = [dict(t, text=t["text"].replace("Okay", "Alright").replace("So", "Well")) for t in first]
    other = OfflineRenderer().render(sample_case(catalog, 12, condition=catalog.conditions()[-1][1].name))
    examples = [{"key": "a", "dialogue": first}, {"key": "b", "dialogue": reworded}, {"key": "c", "dialogue": other}]
    embedder = Embedder()
    vectors = embedder.encode([dedup.dialogue_text(e) for e in examples])
    assert float(vectors[0] @ vectors[1]) > 0.97 > float(vectors[0] @ vectors[2])
    kept, report, _ = deduplicate(examples, threshold=0.97, embedder=embedder)
    assert [e["key"] for e in kept] == ["a", "c"] and report.semantic_dropped == 1


def test_embedding_cache_embeds_each_dialogue_once(tmp_path):
    from training.synthesis import Embedder

    calls = []

    class CountingEmbedder(Embedder):
        def __init__(self) -> None:  # no model: the encoder is the I/O seam replaced here
            self.batch_size, self.windows, self.window_words = 8, 2, 5
            self.cache_path = tmp_path / "embeddings.npz"

        def _embed(self, chunks):
            calls.append(len(chunks))
            rng = np.random.default_rng(len(chunks))
            return _unit(rng.normal(size=(len(chunks), 384)))

    texts = [f"doctor: visit number {i} " + "word " * (3 * i) for i in range(6)]
    first = CountingEmbedder().encode(texts)
    again = CountingEmbedder().encode(texts[::-1])
    assert len(calls) == 1  # the second call was served from the cache file
    assert np.allclose(first[::-1], again)
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0)
