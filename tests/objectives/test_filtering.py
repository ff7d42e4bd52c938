"""Utilisation-based approximate filtering."""

from __future__ import annotations

import pytest

from accelsearch.core.errors import ConfigError, EvaluationError
from accelsearch.objectives.filtering import (
    CheapMetrics,
    UtilizationFilter,
    throughput_from_latency,
    utilization,
)

# (throughput img/s, FLOPs per image)
CHEAP = [
    CheapMetrics(1000, 1e9),  # 0: fast, light -> 1e12 FLOP/s
    CheapMetrics(500, 4e9),  # 1: slower, busier -> 2e12 FLOP/s
    CheapMetrics(400, 2e9),  # 2: slower than 1 and less busy -> dominated
    CheapMetrics(1000, 0.5e9),  # 3: as fast as 0, half the work -> dominated
    CheapMetrics(2000, 0.2e9),  # 4: fastest -> 0.4e12 FLOP/s
    CheapMetrics(300, 5e9),  # 5: most FLOPs but only 1.5e12 FLOP/s
]


def test_utilization_and_throughput_helpers():
    assert utilization(2e9, 500, 1e15) == pytest.approx(1e-3)
    assert throughput_from_latency(4.0, 32) == pytest.approx(8000)
    with pytest.raises(ConfigError):
        utilization(1, 1, 0)


def test_first_front_by_utilization_fastest_first():
    assert UtilizationFilter("utilization").select(CHEAP) == [4, 0, 1]


def test_flops_filter_keeps_the_heavy_slow_candidate_too():
    assert UtilizationFilter("flops").select(CHEAP) == [4, 0, 1, 5]


def test_more_fronts_and_caps():
    two = UtilizationFilter("utilization", fronts=2).select(CHEAP)
    assert two == [4, 0, 1, 3, 2, 5]  # the second front: 3, 2, 5 (fastest first)
    assert len(UtilizationFilter("utilization", fronts=9).select(CHEAP)) == 6
    # capped inside the second front: spread evenly along throughput
    assert UtilizationFilter("utilization", fronts=3, max_keep=4).select(CHEAP) == [4, 0, 1, 3]
    assert UtilizationFilter("utilization", fronts=3, max_keep=5).select(CHEAP) == [4, 0, 1, 3, 5]
    # min_keep takes whole fronts until it is met
    assert len(UtilizationFilter("utilization", min_keep=4).select(CHEAP)) == 6


def test_run_evaluates_only_kept_and_records_failures():
    calls = []

    def acc(i):
        calls.append(i)
        if i == 1:
            raise EvaluationError("training diverged")
        return 70.0 + i

    run = UtilizationFilter().run(list(range(6)), CHEAP, acc)
    assert sorted(calls) == [0, 1, 4] and run.evaluations == 3
    assert run.failed == {1: "training diverged"}
    assert run.accuracy == {0: 70.0, 4: 74.0}
    assert run.front == [4]  # fastest and most accurate


def test_run_with_a_cheap_function():
    run = UtilizationFilter("flops").run(list(range(6)), lambda i: CHEAP[i], lambda i: float(i))
    assert sorted(run.accuracy) == [0, 1, 4, 5]
    assert run.points().shape == (4, 2)


def test_bad_options():
    with pytest.raises(ConfigError, match="utilization"):
        UtilizationFilter("params")
    with pytest.raises(ConfigError, match="fronts"):
        UtilizationFilter(fronts=0)
    with pytest.raises(ConfigError, match="2 cheap metrics"):
        UtilizationFilter().run([1, 2, 3], CHEAP[:2], float)
