"""inference.cache.ModelLRU: a worker keeps at most N loaded models (default 2)."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from inference.cache import ModelLRU, default_capacity


class FakeModel:
    def __init__(self, name: str) -> None:
        self.name = name


def test_default_keeps_two_and_evicts_the_least_recently_used():
    evicted = []
    cache: ModelLRU[str, FakeModel] = ModelLRU(on_evict=lambda k, v: evicted.append(k))
    assert cache.capacity == 2
    a = cache.get_or_create("a", lambda: FakeModel("a"))
    cache.get_or_create("b", lambda: FakeModel("b"))
    assert cache.get_or_create("a", lambda: FakeModel("again")) is a  # a hit, and now the most recent
    cache.get_or_create("c", lambda: FakeModel("c"))  # b is the least recently used
    assert cache.keys() == ["a", "c"] and evicted == ["b"] and len(cache) == 2 and "b" not in cache


def test_an_evicted_model_is_freed_once_nobody_holds_it():
    cache: ModelLRU[int, FakeModel] = ModelLRU(1)
    ref = weakref.ref(cache.get_or_create(1, lambda: FakeModel("one")))
    cache.get_or_create(2, lambda: FakeModel("two"))
    gc.collect()
    assert ref() is None


def test_concurrent_callers_load_a_model_once():
    cache: ModelLRU[str, FakeModel] = ModelLRU(2)
    loads = []

    def load():
        loads.append(1)
        time.sleep(0.05)
        return FakeModel("m")

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get_or_create("m", load))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(loads) == 1 and len({id(m) for m in got}) == 1


def test_failed_load_leaves_the_cache_as_it_was_and_bad_sizes_are_refused(monkeypatch):
    cache: ModelLRU[str, FakeModel] = ModelLRU(2)
    cache.get_or_create("a", lambda: FakeModel("a"))

    def broken():
        raise OSError("no such model")

    with pytest.raises(OSError):
        cache.get_or_create("b", broken)
    assert cache.keys() == ["a"]
    with pytest.raises(ValueError, match="at least one"):
        ModelLRU(0)
    monkeypatch.setenv("SOAP_MODEL_CACHE_SIZE", "3")
    assert default_capacity() == 3 and ModelLRU().capacity == 3
    monkeypatch.setenv("SOAP_MODEL_CACHE_SIZE", "two")
    with pytest.raises(ValueError, match="SOAP_MODEL_CACHE_SIZE"):
        default_capacity()
