"""Bootstrap confidence intervals for evaluation means."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Estimate", "bootstrap_ci", "bootstrap_ratio"]


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


def bootstrap_ratio(
    numerators: Sequence[float],
    denominators: Sequence[float],
    *,
    resamples: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Estimate:
    """Pooled ratio sum(numerators) / sum(denominators) with a bootstrap over the paired units (notes).

    For rates over items that cluster in units, e.g. ungrounded numbers / numbers over notes; units
    with a zero denominator carry no items and are dropped.

    >>> bootstrap_ratio([1, 0, 1], [2, 2, 0]).mean
    0.25
    """
    pairs = np.asarray([(a, b) for a, b in zip(numerators, denominators, strict=True) if b], dtype=float)
    if pairs.size == 0:
        nan = float("nan")
        return Estimate(nan, nan, nan, 0)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(pairs), size=(resamples, len(pairs)))
    sums = pairs[idx].sum(axis=1)
    ratios = sums[:, 0] / sums[:, 1]
    alpha = (1 - level) / 2
    low, high = np.quantile(ratios, [alpha, 1 - alpha])
    return Estimate(float(pairs[:, 0].sum() / pairs[:, 1].sum()), float(low), float(high), len(pairs))
