"""The timing protocol every backend shares.

Warm up, then time repetitions until the median's relative confidence interval is below
``ci_target`` (default 1 %) or a cap on repetitions or seconds is reached. Statistics are
trimmed (the highest and lowest ``trim`` fraction dropped, as GENet did) before the mean and
coefficient of variation; the median and percentiles use every sample.

The confidence interval of the median is the distribution-free one from order statistics:
with n sorted samples, ranks ``n/2 ± z·sqrt(n)/2`` bound the median at ~95 % for z = 1.96.

Warm-up runs ``warmup`` calls but stops early after ``warmup_seconds`` (a slow model on a
CPU must not spend a minute warming up); the timed loop always makes at least one round of
``batch_reps`` calls, then stops at the first check where the confidence interval is tight
enough (after ``min_reps``), ``max_reps`` is reached, or ``max_seconds`` have passed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from accelsearch.errors import ConfigError
from accelsearch.kinds import check_fields


@dataclass(frozen=True)
class Protocol:
    """How many times to run, and when to stop (see the module docstring)."""

    warmup: int = 10
    min_reps: int = 20
    max_reps: int = 1000
    max_seconds: float = 3.0
    ci_target: float = 0.01
    trim: float = 0.1
    noisy_cv: float = 0.05
    batch_reps: int = 10  # repetitions between two checks of the stopping rule
    warmup_seconds: float = 5.0

    def __post_init__(self) -> None:
        check_fields(self, "latency.protocol")  # kinds first: the checks below compare
        if self.warmup < 0 or self.batch_reps < 1:
            raise ConfigError(
                f"latency protocol needs warmup >= 0 and batch_reps >= 1, got "
                f"warmup={self.warmup}, batch_reps={self.batch_reps}"
            )
        if self.max_seconds <= 0 or self.warmup_seconds <= 0 or self.noisy_cv <= 0:
            raise ConfigError(
                "latency protocol max_seconds, warmup_seconds and noisy_cv must be > 0, got "
                f"{self.max_seconds}, {self.warmup_seconds}, {self.noisy_cv}"
            )
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
    warm_start = time.perf_counter()
    for _ in range(protocol.warmup):
        time_once()
        if time.perf_counter() - warm_start > protocol.warmup_seconds:
            break
    samples: list[float] = []
    start = time.perf_counter()
    while True:
        for _ in range(min(protocol.batch_reps, protocol.max_reps - len(samples))):
            samples.append(time_once())
        n = len(samples)
        if n >= protocol.max_reps or time.perf_counter() - start > protocol.max_seconds:
            break
        if n >= protocol.min_reps and median_ci_rel(np.asarray(samples)) <= protocol.ci_target:
            break
    return summarize(samples, protocol.trim)
