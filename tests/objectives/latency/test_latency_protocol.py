"""The timing protocol: warm-up, stopping rule, trimmed statistics, noisy flag."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from accelsearch.core.errors import ConfigError
from accelsearch.objectives.latency.protocol import (
    Protocol,
    median_ci_rel,
    run_protocol,
    summarize,
)


def test_summarize_trims_outliers_for_mean_and_cv_but_not_median():
    samples = [1.0] * 18 + [100.0, 0.01]
    s = summarize(samples, trim=0.1)
    assert s.median_ms == 1.0
    assert s.mean_ms == pytest.approx(1.0)  # both outliers trimmed
    assert s.cv == pytest.approx(0.0)
    assert s.n == 20
    assert s.p10_ms <= s.median_ms <= s.p90_ms
    untrimmed = summarize(samples, trim=0.0)
    assert untrimmed.cv > 1.0


def test_median_ci_is_tight_for_steady_samples_and_wide_for_noisy_ones():
    rng = np.random.default_rng(0)
    steady = 10 + rng.normal(0, 0.01, 200)
    noisy = 10 + rng.normal(0, 3, 200)
    assert median_ci_rel(steady) < 0.001
    assert median_ci_rel(noisy) > 0.02
    assert median_ci_rel(np.array([1.0, 2.0])) == float("inf")


def test_stops_at_min_reps_when_the_ci_is_tight():
    calls = itertools.count()

    def once():
        next(calls)
        return 1.0

    p = Protocol(warmup=4, min_reps=20, max_reps=1000, batch_reps=10)
    stats = run_protocol(once, p)
    assert stats.n == 20
    assert next(calls) == 4 + 20  # warm-up calls are not samples


def test_noisy_samples_run_to_the_repetition_cap_exactly():
    rng = np.random.default_rng(1)
    p = Protocol(warmup=0, min_reps=5, max_reps=57, batch_reps=10, max_seconds=60)
    stats = run_protocol(lambda: float(rng.lognormal(0, 1)), p)
    assert stats.n == 57
    assert stats.cv > p.noisy_cv


def test_time_cap_stops_the_loop():
    import time

    p = Protocol(warmup=0, min_reps=3, max_reps=10_000, max_seconds=0.05, batch_reps=3)
    rng = np.random.default_rng(2)

    def once():
        time.sleep(0.005)
        return float(rng.lognormal(0, 1))

    stats = run_protocol(once, p)
    assert 3 <= stats.n < 100


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_reps": 2},
        {"min_reps": 10, "max_reps": 5},
        {"ci_target": 0},
        {"trim": 0.5},
        {"warmup": -1},
        {"max_seconds": 0},
        {"batch_reps": 0},
    ],
)
def test_bad_protocols_are_rejected(kwargs):
    with pytest.raises(ConfigError):
        Protocol(**kwargs)


def _timer(*phases):
    """A fake timer: ``phases`` are (number of samples, sample function) in turn; the last
    phase goes on for ever."""
    calls = itertools.count()

    def once():
        k = next(calls)
        for n, fn in phases:
            if k < n:
                return fn(k)
            k -= n
        return phases[-1][1](k)

    return once


def test_a_busy_measurement_is_taken_again_and_the_steady_one_kept():
    rng = np.random.default_rng(3)
    p = Protocol(warmup=0, min_reps=20, max_reps=40, batch_reps=10, max_seconds=60)
    busy = (40, lambda k: float(1.0 + rng.exponential(0.5)))  # another job shares the device
    stats = run_protocol(_timer(busy, (10**9, lambda k: 1.0)), p)
    assert stats.attempts == 2 and stats.busy == "" and stats.median_ms == 1.0


def test_still_busy_after_the_repeat_is_flagged_with_why():
    rng = np.random.default_rng(4)
    p = Protocol(warmup=0, min_reps=20, max_reps=40, batch_reps=10, max_seconds=60)
    stats = run_protocol(lambda: float(1.0 + rng.exponential(0.5)), p)
    assert stats.attempts == 2 and stats.busy.startswith("spread cv")
    once = Protocol(warmup=0, min_reps=20, max_reps=40, max_seconds=60, noisy_retries=0)
    assert run_protocol(lambda: float(1.0 + rng.exponential(0.5)), once).attempts == 1


def test_a_drift_is_busy_even_when_the_spread_is_small():
    p = Protocol(warmup=0, min_reps=60, max_reps=60, batch_reps=10, max_seconds=60)
    ramp = itertools.count()  # the device slows down steadily: 1.00 -> 1.10 ms per attempt
    stats = run_protocol(lambda: 1.0 + 0.1 * (next(ramp) % 60) / 60, p)
    assert stats.cv < p.noisy_cv and stats.drift > p.noisy_drift
    assert stats.busy.startswith("drift") and stats.attempts == 2


def test_a_backend_marks_a_busy_result_noisy():
    from accelsearch.core.arch import Arch, Head, Stage
    from accelsearch.objectives.latency.base import LatencyBackend

    rng = np.random.default_rng(5)

    class BusyDevice(LatencyBackend):
        """Times nothing: every sample comes from a device that other work keeps busy."""

        name = "busy_test"
        uses_device_lock = False

        def _prepare(self, model_or_arch, num_classes):
            return None

        def _measure_impl(self, model, input_shape):
            stats = run_protocol(lambda: float(1.0 + rng.exponential(0.5)), self.protocol)
            return stats, 0.0, "fake", {}

    arch = Arch(resolution=8, stem=Stage("conv", width=4), stages=(), head=Head(width=0))
    protocol = Protocol(warmup=0, min_reps=10, max_reps=20, max_seconds=60)
    with BusyDevice(device="cpu", protocol=protocol, cache=False) as backend:
        r = backend.measure(arch, batch_size=1)
    assert r.noisy and r.attempts == 2 and r.noisy_reason.startswith("spread cv")
    assert "NOISY (spread cv" in r.describe()
    assert type(r).from_dict(r.to_dict()) == r
