"""A small thread-safe LRU for loaded models: a long-lived worker keeps at most N of them.

Every promotion or evaluation asks for another model; an unbounded dict keeps all of them in the
worker's memory. `ModelLRU(capacity)` keeps the `capacity` most recently used entries (default 2,
or SOAP_MODEL_CACHE_SIZE) and forgets the least recently used one when a new one is loaded; an
evicted model is freed once no caller still holds it. `on_evict(key, value)` runs after an
eviction (e.g. to return freed CUDA memory to the driver).

    _models: ModelLRU[tuple[str, str, str], tuple[Any, Any]] = ModelLRU()
    model, tokenizer = _models.get_or_create(key, lambda: load(...))
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_CAPACITY = 2


def default_capacity() -> int:
    """SOAP_MODEL_CACHE_SIZE when set (at least 1), else 2."""
    raw = os.environ.get("SOAP_MODEL_CACHE_SIZE", "")
    try:
        return max(1, int(raw)) if raw.strip() else DEFAULT_CAPACITY
    except ValueError:
        raise ValueError(f"SOAP_MODEL_CACHE_SIZE={raw!r} must be a whole number of models, e.g. 2") from None


class ModelLRU(Generic[K, V]):
    """At most `capacity` entries, least recently used evicted first; safe across threads.

    `get_or_create` builds a missing entry while holding the lock, so two threads asking for the
    same model load it once (and loads never run side by side, which also bounds peak memory).
    """

    def __init__(self, capacity: int | None = None, *, on_evict: Callable[[K, V], None] | None = None) -> None:
        self.capacity = default_capacity() if capacity is None else capacity
        if self.capacity < 1:
            raise ValueError(f"capacity={self.capacity}: a model cache holds at least one model")
        self.on_evict = on_evict
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.RLock()

    def get_or_create(self, key: K, factory: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
            value = factory()  # a failing load leaves the cache as it was
            self._items[key] = value
            evicted = []
            while len(self._items) > self.capacity:
                evicted.append(self._items.popitem(last=False))
        for old_key, old_value in evicted:
            if self.on_evict:
                self.on_evict(old_key, old_value)
        return value

    def get(self, key: K) -> V | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def pop(self, key: K) -> V | None:
        with self._lock:
            return self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def keys(self) -> list[K]:
        """Keys from least to most recently used."""
        with self._lock:
            return list(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
