"""Rewards that rank candidates: the MnasNet soft reward used by EfficientNet-X.

``reward = acc × (lat / target) ** w`` with ``w`` = −0.07 for mobile and −0.09 for
datacenter accelerators (EfficientNet-X); a model at the target keeps its accuracy, one
twice as slow loses ``1 − 2^w`` ≈ 6 % of it at w = −0.09.
"""

from __future__ import annotations

import math

from accelsearch.errors import ConfigError

W_MOBILE = -0.07
W_DATACENTER = -0.09


def mnas_reward(
    accuracy: float, latency_ms: float, target_ms: float, w: float = W_DATACENTER
) -> float:
    """MnasNet soft reward ``accuracy × (latency / target) ** w``."""
    if target_ms <= 0 or not math.isfinite(target_ms):
        raise ConfigError(f"reward target_ms must be a positive number, got {target_ms}")
    if latency_ms <= 0 or not math.isfinite(latency_ms):
        raise ConfigError(f"reward needs a positive latency, got {latency_ms}")
    return float(accuracy) * (float(latency_ms) / float(target_ms)) ** float(w)


def pareto_mask(points, senses) -> list[bool]:
    """Which rows of ``points`` are non-dominated.

    ``senses`` gives "max" or "min" per column. A row is dominated when another row is at
    least as good in every column and better in one. O(n²), fine for search results.
    """
    import numpy as np

    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != len(senses):
        raise ConfigError(f"pareto_mask needs an n×{len(senses)} array, got shape {pts.shape}")
    bad = [s for s in senses if s not in ("max", "min")]
    if bad:
        raise ConfigError(f"pareto senses must be 'max' or 'min', got {bad}")
    signs = np.array([-1.0 if s == "max" else 1.0 for s in senses])
    p = pts * signs  # now every column is minimised
    mask = []
    for i in range(len(p)):
        le = np.all(p <= p[i], axis=1)
        lt = np.any(p < p[i], axis=1)
        mask.append(not bool(np.any(le & lt)))
    return mask
