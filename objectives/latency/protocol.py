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

A busy device shows in the samples: a wide spread (``cv`` above ``noisy_cv``) or a drift
(the median of the last third of the samples differs from that of the first third by more
than ``noisy_drift``, as when other work starts or stops during the measurement). Such a
measurement is repeated (``noisy_retries`` times, default once) and the steadier attempt
kept; if that one still looks busy, :attr:`Stats.busy` says why, and the backend marks the
result ``noisy`` (shown in the Pareto and family tables and in ``summary.md``).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from accelsearch.core.errors import ConfigError
from accelsearch.core.kinds import check_fields


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
    noisy_drift: float = 0.05
    noisy_retries: int = 1  # repeats of a measurement that looks busy

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
        if not self.noisy_drift > 0 or not 0 <= self.noisy_retries <= 10:
            raise ConfigError(
                "latency protocol needs noisy_drift > 0 and 0 <= noisy_retries <= 10, got "
                f"noisy_drift={self.noisy_drift}, noisy_retries={self.noisy_retries}"
            )


@dataclass(frozen=True)
class Stats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    cv: float
    n: int
    ci_rel: float
    drift: float = 0.0  # |median(last third) - median(first third)| / median
    attempts: int = 1  # timed loops run (more than one when the first looked busy)
    busy: str = ""  # why the kept attempt still looks busy ("" when it is steady)


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
        drift=drift(samples_ms),
    )


def drift(samples_ms: list[float] | np.ndarray) -> float:
    """How far the median of the last third of the samples (in time order) lies from that of
    the first third, relative to the median of all; 0 with fewer than 9 samples."""
    x = np.asarray(samples_ms, dtype=float)
    k = len(x) // 3
    med = float(np.median(x)) if len(x) else 0.0
    if k < 3 or med <= 0:
        return 0.0
    return float(abs(np.median(x[-k:]) - np.median(x[:k])) / med)


def busy_reason(stats: Stats, protocol: Protocol) -> str:
    """Why ``stats`` look like a busy device ("" when they do not)."""
    reasons = []
    if stats.cv > protocol.noisy_cv:
        reasons.append(f"spread cv {stats.cv:.3f} > {protocol.noisy_cv:g}")
    if stats.drift > protocol.noisy_drift:
        reasons.append(f"drift {100 * stats.drift:.1f} % > {100 * protocol.noisy_drift:g} %")
    return ", ".join(reasons)


def run_protocol(time_once: Callable[[], float], protocol: Protocol) -> Stats:
    """Call ``time_once()`` (returns one sample in ms) under ``protocol``; a measurement that
    looks busy is repeated and the steadier attempt kept (see the module docstring)."""
    warm_start = time.perf_counter()
    for _ in range(protocol.warmup):
        time_once()
        if time.perf_counter() - warm_start > protocol.warmup_seconds:
            break
    stats = _timed_loop(time_once, protocol)
    attempts = 1
    while busy_reason(stats, protocol) and attempts <= protocol.noisy_retries:
        again = _timed_loop(time_once, protocol)
        attempts += 1
        stats = min(stats, again, key=lambda s: _busyness(s, protocol))
    return dataclasses.replace(stats, attempts=attempts, busy=busy_reason(stats, protocol))


def _busyness(stats: Stats, protocol: Protocol) -> float:
    return max(stats.cv / protocol.noisy_cv, stats.drift / protocol.noisy_drift)


def _timed_loop(time_once: Callable[[], float], protocol: Protocol) -> Stats:
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
