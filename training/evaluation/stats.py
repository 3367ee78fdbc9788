"""Bootstrap confidence intervals for evaluation means."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "bootstrap_ci"]


@dataclass(frozen=True)
class Estimate:
    """A mean with its percentile-bootstrap 95 % interval over `n` examples (NaN when n == 0)."""

    mean: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, float | int | None]:
        """JSON-safe (no NaN: PostgreSQL's jsonb refuses it): undefined values become None."""

        def clean(value: float) -> float | None:
            return None if math.isnan(value) else value

        return {"mean": clean(self.mean), "low": clean(self.low), "high": clean(self.high), "n": self.n}

    def __str__(self) -> str:
        if self.n == 0 or math.isnan(self.mean):
            return "n/a"
        return f"{self.mean:.3f} [{self.low:.3f}, {self.high:.3f}]"


def bootstrap_ci(values: Sequence[float], *, resamples: int = 2000, level: float = 0.95, seed: int = 0) -> Estimate:
    """Mean of `values` and its percentile-bootstrap interval (fixed seed: reports are reproducible).

    >>> bootstrap_ci([1.0, 1.0, 1.0]).low
    1.0
    """
    data = np.asarray([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if data.size == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    alpha = (1 - level) / 2
    low, high = np.quantile(means, [alpha, 1 - alpha])
    return Estimate(float(data.mean()), float(low), float(high), int(data.size))
