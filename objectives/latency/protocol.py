"""The timing protocol every backend shares.

Warm up, then time repetitions until the median's relative confidence interval is below
``ci_target`` (default 1 %) or a cap on repetitions or seconds is reached. Statistics are
trimmed (the highest and lowest ``trim`` fraction dropped, as GENet did) before the mean and
coefficient of variation; the median and percentiles use every sample.

The confidence interval of the median is the distribution-free one from order statistics:
with n sorted samples, ranks ``n/2 ± z·sqrt(n)/2`` bound the median at ~95 % for z = 1.96.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from accelsearch.errors import ConfigError


@dataclass(frozen=True)
class Protocol:
    warmup: int = 10
    min_reps: int = 20
    max_reps: int = 1000
    max_seconds: float = 3.0
    ci_target: float = 0.01
    trim: float = 0.1
    noisy_cv: float = 0.05
    batch_reps: int = 10  # repetitions between two checks of the stopping rule

    def __post_init__(self) -> None:
        if self.min_reps < 3 or self.max_reps < self.min_reps:
            raise ConfigError(
                f"latency protocol needs 3 <= min_reps <= max_reps, got "
                f"min_reps={self.min_reps}, max_reps={self.max_reps}"
            )
        if not 0 < self.ci_target < 1:
            raise ConfigError(f"latency protocol ci_target must be in (0, 1), got {self.ci_target}")
        if not 0 <= self.trim < 0.5:
            raise ConfigError(f"latency protocol trim must be in [0, 0.5), got {self.trim}")


@dataclass(frozen=True)
class Stats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    cv: float
    n: int
    ci_rel: float


def median_ci_rel(samples: np.ndarray, z: float = 1.96) -> float:
    """Half-width of the median's confidence interval, relative to the median."""
    x = np.sort(samples)
    n = len(x)
    med = float(np.median(x))
    if n < 3 or med <= 0:
        return math.inf
    half = z * math.sqrt(n) / 2
    lo = max(0, int(math.floor(n / 2 - half)))
    hi = min(n - 1, int(math.ceil(n / 2 + half)))
    return float((x[hi] - x[lo]) / 2 / med)


def summarize(samples_ms: list[float] | np.ndarray, trim: float = 0.1) -> Stats:
    x = np.sort(np.asarray(samples_ms, dtype=float))
    n = len(x)
    k = int(n * trim)
    core = x[k : n - k] if n - 2 * k >= 2 else x
    mean = float(core.mean())
    cv = float(core.std(ddof=1) / mean) if len(core) > 1 and mean > 0 else 0.0
    return Stats(
        median_ms=float(np.median(x)),
        p10_ms=float(np.percentile(x, 10)),
        p90_ms=float(np.percentile(x, 90)),
        mean_ms=mean,
        cv=cv,
        n=n,
        ci_rel=median_ci_rel(x),
    )


def run_protocol(time_once: Callable[[], float], protocol: Protocol) -> Stats:
    """Call ``time_once()`` (returns one sample in ms) under ``protocol``."""
    for _ in range(protocol.warmup):
        time_once()
    samples: list[float] = []
    start = time.perf_counter()
    while True:
        for _ in range(protocol.batch_reps):
            samples.append(time_once())
        n = len(samples)
        if n >= protocol.max_reps or time.perf_counter() - start > protocol.max_seconds:
            break
        if n >= protocol.min_reps and median_ci_rel(np.asarray(samples)) <= protocol.ci_target:
            break
    return summarize(samples, protocol.trim)
