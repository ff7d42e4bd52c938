"""Rewards that rank candidates, and the multi-objective tools that compare sets of them.

Rewards (one number per candidate):

* :func:`mnas_reward`, MnasNet's soft form used by EfficientNet-X:
  ``acc × (lat / target) ** w``, ``w`` = −0.07 (mobile) or −0.09 (datacenter accelerators);
  a model at the target keeps its accuracy, one twice as slow loses ``1 − 2^w`` ≈ 6 % of it
  at w = −0.09.
* :func:`mnas_hard_reward`, MnasNet's hard-constraint form: ``w = alpha`` when
  ``lat <= target`` else ``beta`` (MnasNet: α = 0, β = −1, so a model within the target is
  ranked by accuracy alone and one over it is penalised sharply).
* :func:`throughput_reward`, the throughput form of Kosaian & Phanishayee:
  ``acc / 100 × (throughput / target_throughput) ** w`` with ``w > 0`` (more images per
  second is better; w = 0.07 mirrors MnasNet's −0.07 on latency).

Sets of candidates (any mix of maximised and minimised objectives, one column each):

* :func:`non_dominated_sort` (pymoo's ``NonDominatedSorting``) returns the fronts,
  :func:`pareto_front` the first one, :func:`pareto_mask` it as booleans;
* :func:`hypervolume` (pymoo's ``HV`` indicator) of a set, after normalising every
  objective to [0, 1] as a minimisation: ``(hi − v) / (hi − lo)`` for a maximised one,
  ``(v − lo) / (hi − lo)`` for a minimised one, with ``(lo, hi)`` the given ``bounds`` (by
  default the points' own minimum and maximum). The reference point is ``1 + margin`` in
  every normalised objective (``margin`` 0.1: 10 % of the range beyond the worst bound),
  so the best possible value is ``(1 + margin) ** m``. To compare sets, give all of them
  the same ``bounds`` (e.g. those of every candidate that was screened).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from accelsearch.core.errors import ConfigError

W_MOBILE = -0.07
W_DATACENTER = -0.09
#: MnasNet's hard-constraint exponents: no penalty within the target, a steep one beyond
HARD_ALPHA = 0.0
HARD_BETA = -1.0
#: throughput exponent (positive: higher throughput is better)
W_THROUGHPUT = 0.07


def _positive(name: str, value: float) -> float:
    value = float(value)
    if value <= 0 or not math.isfinite(value):
        raise ConfigError(f"reward needs a positive, finite {name}, got {value}")
    return value


def mnas_reward(
    accuracy: float, latency_ms: float, target_ms: float, w: float = W_DATACENTER
) -> float:
    """MnasNet soft reward ``accuracy × (latency / target) ** w``."""
    if target_ms <= 0 or not math.isfinite(target_ms):
        raise ConfigError(f"reward target_ms must be a positive number, got {target_ms}")
    if latency_ms <= 0 or not math.isfinite(latency_ms):
        raise ConfigError(f"reward needs a positive latency, got {latency_ms}")
    return float(accuracy) * (float(latency_ms) / float(target_ms)) ** float(w)


def mnas_hard_reward(
    accuracy: float,
    latency_ms: float,
    target_ms: float,
    alpha: float = HARD_ALPHA,
    beta: float = HARD_BETA,
) -> float:
    """MnasNet reward with ``w = alpha`` if ``latency <= target`` else ``beta``.

    ``alpha = beta`` gives the soft reward; the defaults (0, −1) are MnasNet's hard
    constraint.
    """
    lat = _positive("latency_ms", latency_ms)
    target = _positive("target_ms", target_ms)
    w = alpha if lat <= target else beta
    return float(accuracy) * (lat / target) ** float(w)


def throughput_reward(
    accuracy: float,
    throughput: float,
    target_throughput: float,
    w: float = W_THROUGHPUT,
) -> float:
    """Kosaian et al.'s throughput reward ``accuracy / 100 × (throughput / G_T) ** w``.

    ``accuracy`` in percent, ``throughput`` and ``target_throughput`` (G_T) in the same
    unit (images/s); ``w > 0`` rewards higher throughput.
    """
    thr = _positive("throughput", throughput)
    target = _positive("target_throughput", target_throughput)
    return float(accuracy) / 100.0 * (thr / target) ** float(w)


# -- sets of candidates -------------------------------------------------------------------------
def _as_minimisation(points, senses: Sequence[str], where: str) -> np.ndarray:
    pts = np.asarray(points, dtype=float)
    if pts.ndim == 1 and len(senses) == 1:
        pts = pts[:, None]
    if pts.ndim != 2 or pts.shape[1] != len(senses):
        raise ConfigError(f"{where} needs an n×{len(senses)} array, got shape {pts.shape}")
    bad = [s for s in senses if s not in ("max", "min")]
    if bad:
        raise ConfigError(f"{where}: objective senses must be 'max' or 'min', got {bad}")
    if pts.size and not np.all(np.isfinite(pts)):
        rows = sorted({int(i) for i in np.argwhere(~np.isfinite(pts))[:, 0]})
        raise ConfigError(f"{where}: rows {rows[:10]} have non-finite values; drop them first")
    signs = np.array([-1.0 if s == "max" else 1.0 for s in senses])
    return pts * signs


def non_dominated_sort(points, senses: Sequence[str]) -> list[np.ndarray]:
    """Indices of ``points`` grouped into non-dominated fronts, best front first.

    ``senses`` gives ``"max"`` or ``"min"`` per column. Equal points share a front.
    """
    from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

    p = _as_minimisation(points, senses, "non_dominated_sort")
    if len(p) == 0:
        return []
    fronts = NonDominatedSorting().do(p)
    return [np.sort(np.asarray(f, dtype=int)) for f in fronts]


def pareto_front(points, senses: Sequence[str]) -> np.ndarray:
    """Indices (ascending) of the non-dominated rows of ``points``."""
    fronts = non_dominated_sort(points, senses)
    return fronts[0] if fronts else np.zeros(0, dtype=int)


def pareto_mask(points, senses) -> list[bool]:
    """Which rows of ``points`` are non-dominated (``senses``: "max"/"min" per column).

    A row is dominated when another row is at least as good in every column and better
    in one.
    """
    n = len(np.asarray(points, dtype=float))
    front = set(pareto_front(points, senses).tolist()) if n else set()
    return [i in front for i in range(n)]


def normalise(points, senses: Sequence[str], bounds=None) -> np.ndarray:
    """Objectives mapped to [0, 1] minimisation (see the module docstring); ``bounds`` is
    one ``(lo, hi)`` per column, default the points' own range."""
    pts = np.asarray(points, dtype=float)
    _as_minimisation(pts, senses, "normalise")  # validates shape and values
    if pts.ndim == 1:
        pts = pts[:, None]
    if bounds is None:
        if len(pts) == 0:
            raise ConfigError("normalise needs bounds when there are no points")
        lo, hi = pts.min(axis=0), pts.max(axis=0)
    else:
        b = np.asarray(bounds, dtype=float)
        if b.shape != (len(senses), 2):
            raise ConfigError(
                f"bounds must be one (lo, hi) pair per objective ({len(senses)}), got {b.tolist()}"
            )
        lo, hi = b[:, 0], b[:, 1]
        if np.any(hi < lo):
            raise ConfigError(f"bounds need lo <= hi, got {b.tolist()}")
    span = np.where(hi > lo, hi - lo, 1.0)
    out = np.empty_like(pts)
    for j, s in enumerate(senses):
        out[:, j] = (hi[j] - pts[:, j]) / span[j] if s == "max" else (pts[:, j] - lo[j]) / span[j]
    return out


def hypervolume(points, senses: Sequence[str], *, bounds=None, margin: float = 0.1) -> float:
    """Hypervolume of ``points`` (pymoo's ``HV``), normalised as the module docstring says.

    Reference point: ``1 + margin`` in every normalised objective. Points beyond it (worse
    than the worst bound by more than ``margin`` of the range) add nothing. An empty set
    has hypervolume 0.
    """
    from pymoo.indicators.hv import HV

    if margin < 0:
        raise ConfigError(f"hypervolume margin must be >= 0, got {margin}")
    pts = np.asarray(points, dtype=float)
    if pts.size == 0:
        return 0.0
    norm = normalise(pts, senses, bounds)
    ref = np.full(len(senses), 1.0 + margin)
    inside = np.all(norm < ref, axis=1)
    if not inside.any():
        return 0.0
    return float(HV(ref_point=ref)(norm[inside]))
