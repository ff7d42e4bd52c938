"""The fusion correction: ``ms = a·lut_sum + b·n_layers + c`` (GPUNet §3.2's ~75 µs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from accelsearch.core.errors import ConfigError


@dataclass(frozen=True)
class Correction:
    """``ms = a·lut_sum + b·n_layers + c``, fitted on whole-network measurements.

    ``mape_before``/``mape_after`` are the fit's in-sample mean absolute percentage errors
    of the plain sum and of the corrected prediction.
    """

    a: float = 1.0
    b: float = 0.0
    c: float = 0.0
    n_fit: int = 0
    mape_before: float = float("nan")
    mape_after: float = float("nan")

    def apply(self, raw: np.ndarray | float, n_layers: np.ndarray | float):
        out = self.a * np.asarray(raw, dtype=float) + self.b * np.asarray(n_layers) + self.c
        floor = 0.05 * np.asarray(raw, dtype=float)  # never below 5 % of the plain sum
        return np.maximum(out, floor)

    @classmethod
    def fit(cls, raw: Sequence[float], n_layers: Sequence[float], measured: Sequence[float]):
        """Least squares on relative error (rows weighted by 1/measured); with fewer than
        four networks only the scale ``a`` is fitted.

        Least squares does not minimise the percentage error itself: on a few noisy
        networks the three-term fit can end up with a larger in-sample MAPE than the plain
        sum. Of the three-term fit, the scale alone and the plain sum, the one with the
        lowest in-sample MAPE is kept, so a correction never makes its own fit worse.
        """
        raw_a = np.asarray(raw, dtype=float)
        n_a = np.asarray(n_layers, dtype=float)
        y = np.asarray(measured, dtype=float)
        if len(y) < 1 or np.any(y <= 0) or np.any(raw_a <= 0):
            raise ConfigError("a LUT correction needs at least one positive measurement")
        w = 1.0 / y
        candidates = []
        if len(y) >= 4:
            X = np.stack([raw_a, n_a, np.ones_like(raw_a)], axis=1)
            coef, *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
            candidates.append(tuple(float(v) for v in coef))
        candidates.append((float(np.sum(raw_a * w * y * w) / np.sum((raw_a * w) ** 2)), 0.0, 0.0))
        candidates.append((1.0, 0.0, 0.0))
        before = mape(raw_a, y)
        scored = [(mape(cls(a, b, c).apply(raw_a, n_a), y), (a, b, c)) for a, b, c in candidates]
        after, (a, b, c) = min(scored, key=lambda s: s[0])  # the first of equals: most terms
        return cls(a, b, c, len(y), before, after)


def mape(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Mean absolute percentage error, in percent."""
    p = np.asarray(predicted, dtype=float)
    y = np.asarray(measured, dtype=float)
    return float(np.mean(np.abs(p - y) / y) * 100.0)
