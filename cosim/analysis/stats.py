"""Confidence intervals over seeds: plain Student-t arithmetic for studies.

A study repeats every configuration over n seeds. For per-seed values
``x_1..x_n`` (one number per seed, e.g. a client's final cross-entropy)::

    mean       x̄ = (1/n) Σ x_s
    std        s  = sqrt( Σ (x_s − x̄)² / (n − 1) )          (unbiased, ddof = 1)
    half-width h  = t_{(1+c)/2, n−1} · s / sqrt(n)           (c = confidence, 0.95)
    interval      [x̄ − h, x̄ + h]

**Paired** comparison of two methods A and B run on the same seeds (same
data split, initial weights and public batches, so seed effects cancel): the
interval above applied to the per-seed differences ``d_s = a_s − b_s``. It is
much narrower than comparing two independent intervals whenever the seeds
move A and B together.

With n < 2 there is no spread estimate: the half-width is NaN and every
"significant" test below answers False.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """A mean with a two-sided Student-t confidence interval."""

    mean: float
    half_width: float
    n: int
    confidence: float = 0.95

    @property
    def low(self) -> float:
        return self.mean - self.half_width

    @property
    def high(self) -> float:
        return self.mean + self.half_width

    @property
    def above_zero(self) -> bool:
        """The whole interval lies above 0 (significantly positive)."""
        return not math.isnan(self.half_width) and self.low > 0.0

    @property
    def below_zero(self) -> bool:
        """The whole interval lies below 0 (significantly negative)."""
        return not math.isnan(self.half_width) and self.high < 0.0

    def format(self, digits: int = 3, signed: bool = False) -> str:
        """``mean ± half-width`` (``mean ± n/a`` with fewer than 2 values).

        ``signed``: always show the mean's sign (for differences).
        """
        sign = "+" if signed else ""
        mean = f"{self.mean:{sign}.{digits}f}"
        if math.isnan(self.half_width):
            return f"{mean} ± n/a"
        return f"{mean} ± {self.half_width:.{digits}f}"


def _values(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError(f"{name}: need at least one value")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{name}: values must be finite, got {x.tolist()}")
    return x


def t_quantile(confidence: float, n: int) -> float:
    """Two-sided Student-t factor t_{(1+c)/2, n−1} (NaN for n < 2)."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if n < 2:
        return math.nan
    return float(stats.t.ppf(0.5 + confidence / 2.0, df=n - 1))


def mean_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95) -> Interval:
    """Mean of ``values`` (one per seed) with its t confidence interval (module docstring)."""
    x = _values(values, "values")
    n = int(x.size)
    if n < 2:
        return Interval(float(x[0]), math.nan, n, confidence)
    half = t_quantile(confidence, n) * float(np.std(x, ddof=1)) / math.sqrt(n)
    return Interval(float(x.mean()), half, n, confidence)


def paired_ci(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    confidence: float = 0.95,
) -> Interval:
    """Mean of the per-seed differences ``a_s − b_s`` with its t interval.

    ``a`` and ``b`` must be aligned by seed (same length, same seed order).
    """
    xa = _values(a, "a")
    xb = _values(b, "b")
    if xa.shape != xb.shape:
        raise ValueError(
            f"paired_ci: a and b must hold one value per seed each, got {xa.size} and {xb.size}"
        )
    return mean_ci(xa - xb, confidence)
