"""Acquisition functions of ``pool-bo`` when a candidate's latency is known before training.

Values are *minimised* (an accuracy enters negated, as :meth:`Objective.values` gives it).
Only one objective is uncertain (the modelled one, predicted by a Gaussian process as mean
``mu`` and standard deviation ``sigma``); the other, latency, is the candidate's predicted
latency, taken as exact. Then the expected hypervolume improvement of a candidate has a
closed form: in two dimensions the region a new point ``(v, t)`` adds to the dominated
region is, for every latency ``t' >= t`` up to the reference latency, the gap between the
current front's staircase ``h(t')`` and ``v``, so

    EHVI = sum over the staircase's steps j of  overlap_j(t) * E[max(0, h_j - V)],

with ``E[max(0, h - V)] = sigma * (z Phi(z) + phi(z))``, ``z = (h - mu) / sigma`` (the
expected improvement below a level). Nothing is sampled; a pool of 16,384 candidates against
a front of 100 points is one small matrix.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def expected_improvement(mu: np.ndarray, sigma: np.ndarray, level) -> np.ndarray:
    """``E[max(0, level - V)]`` for ``V ~ N(mu, sigma^2)`` (elementwise, broadcast)."""
    mu, sigma = np.asarray(mu, dtype=float), np.asarray(sigma, dtype=float)
    gap = np.asarray(level, dtype=float) - mu
    s = np.maximum(sigma, 1e-12)
    z = gap / s
    ei = s * (z * norm.cdf(z) + norm.pdf(z))
    return np.where(sigma > 1e-12, ei, np.maximum(gap, 0.0))


def staircase(
    values: np.ndarray, latency: np.ndarray, ref_value: float, ref_latency: float
) -> tuple[np.ndarray, np.ndarray]:
    """The current front as steps: ``edges`` (k+2 latencies, from ``-inf`` to the reference
    latency) and ``levels`` (k+1 values: the best value reached at or below each step's
    start latency; ``ref_value`` before the first point). Points at or beyond the reference
    (in either objective) do not count."""
    keep = (values < ref_value) & (latency < ref_latency)
    v, t = np.asarray(values, float)[keep], np.asarray(latency, float)[keep]
    order = np.argsort(t, kind="stable")
    v, t = v[order], t[order]
    best = np.minimum.accumulate(v) if len(v) else v
    edges = np.concatenate([[-np.inf], t, [ref_latency]])
    levels = np.concatenate([[ref_value], np.minimum(best, ref_value)])
    return edges, levels


def hypervolume_improvement(
    mu: np.ndarray,
    sigma: np.ndarray,
    cand_latency: np.ndarray,
    front_values: np.ndarray,
    front_latency: np.ndarray,
    ref_value: float,
    ref_latency: float,
) -> np.ndarray:
    """Expected hypervolume improvement of each candidate (see the module docstring)."""
    edges, levels = staircase(front_values, front_latency, ref_value, ref_latency)
    t = np.asarray(cand_latency, dtype=float)[:, None]
    start = np.maximum(edges[None, :-1], t)
    overlap = np.clip(edges[None, 1:] - start, 0.0, None)  # N x (k+1)
    gain = expected_improvement(np.asarray(mu)[:, None], np.asarray(sigma)[:, None], levels)
    return (overlap * gain).sum(axis=1)


def hypervolume(values: np.ndarray, latency: np.ndarray, ref_value: float, ref_latency: float):
    """Dominated area of a set of points against the reference (both minimised)."""
    edges, levels = staircase(np.asarray(values), np.asarray(latency), ref_value, ref_latency)
    widths = edges[2:] - edges[1:-1]
    return float(np.sum(widths * (ref_value - levels[1:])))
