"""The comparison maths on synthetic curves: interpolation in log latency, the first
crossing of an accuracy, and what lies outside the family's range (never extrapolated)."""

from __future__ import annotations

import math

import pytest

from accelsearch.baselines_curve import (
    ABOVE,
    BELOW,
    FASTER,
    IN_RANGE,
    SLOWER,
    Curve,
    compare_lines,
    compare_point,
)

# a family at 1, 2, 4 ms with 70, 74, 76 %: log-linear in between
FAMILY = Curve.of([(2.0, 74.0), (1.0, 70.0), (4.0, 76.0)])


def test_curve_sorts_by_latency_and_averages_equal_latencies():
    curve = Curve.of([(2.0, 60.0), (1.0, 50.0), (2.0, 64.0), (None, 1.0), (3.0, float("nan"))])
    assert curve.points == ((1.0, 50.0), (2.0, 62.0))


def test_accuracy_at_is_linear_in_log_latency():
    assert FAMILY.accuracy_at(1.0) == pytest.approx(70.0)
    assert FAMILY.accuracy_at(4.0) == pytest.approx(76.0)
    # sqrt(2) ms is half-way between 1 and 2 ms in log latency
    assert FAMILY.accuracy_at(math.sqrt(2)) == pytest.approx(72.0)
    assert FAMILY.accuracy_at(2 * math.sqrt(2)) == pytest.approx(75.0)
    # linear in latency would give 70 + 4 * 0.5 = 72 at 1.5 ms; log gives 70 + 4 log2(1.5)
    assert FAMILY.accuracy_at(1.5) == pytest.approx(70 + 4 * math.log2(1.5))


def test_accuracy_at_refuses_to_extrapolate():
    assert FAMILY.accuracy_at(0.99) is None
    assert FAMILY.accuracy_at(4.01) is None


def test_latency_for_interpolates_the_first_crossing():
    lat, where = FAMILY.latency_for(72.0)
    assert where == IN_RANGE and lat == pytest.approx(math.sqrt(2))
    lat, where = FAMILY.latency_for(75.0)
    assert where == IN_RANGE and lat == pytest.approx(2 * math.sqrt(2))
    # a curve that dips: the lowest latency that reaches the accuracy counts
    dipping = Curve.of([(1.0, 60.0), (2.0, 70.0), (4.0, 65.0), (8.0, 72.0)])
    lat, where = dipping.latency_for(66.0)
    assert where == IN_RANGE and lat == pytest.approx(2**0.6)


def test_latency_for_outside_the_accuracy_range():
    assert FAMILY.latency_for(69.0) == (1.0, BELOW)  # the fastest member is as accurate
    assert FAMILY.latency_for(76.5) == (None, ABOVE)  # no member reaches it


def test_point_inside_both_ranges():
    # a baseline at 2 ms with 72 %: the family gives 74 % there (+2), and reaches 72 % at
    # sqrt(2) ms: sqrt(2)x as fast
    p = compare_point(FAMILY, "b1", "b", 2.0, 72.0)
    assert p.accuracy_gain == pytest.approx(2.0)
    assert p.speedup == pytest.approx(math.sqrt(2))
    assert p.family_latency_ms == pytest.approx(math.sqrt(2))
    assert (p.latency_position, p.accuracy_position) == (IN_RANGE, IN_RANGE)
    assert p.notes(FAMILY) == []


def test_point_outside_the_ranges_is_named_not_extrapolated():
    fast = compare_point(FAMILY, "tiny", "t", 0.5, 65.0)
    assert fast.latency_position == FASTER and fast.accuracy_gain is None
    assert fast.accuracy_position == BELOW and fast.speedup is None
    assert fast.speedup_at_least == pytest.approx(0.5)
    notes = " ".join(fast.notes(FAMILY))
    assert "faster than the family's fastest member" in notes and "not interpolated" in notes

    big = compare_point(FAMILY, "huge", "t", 10.0, 80.0)
    assert big.latency_position == SLOWER and big.accuracy_position == ABOVE
    assert big.speedup is None and big.speedup_at_least is None
    notes = " ".join(big.notes(FAMILY))
    assert "slower than the family's slowest member" in notes
    assert "more accurate than every member" in notes


def test_lines_summarise_in_range_models_and_name_the_others():
    rows = [
        {"model": "b0", "line": "effnet", "latency_ms": 2.0, "accuracy": 72.0},
        {"model": "b1", "line": "effnet", "latency_ms": 4.0, "accuracy": 74.0},
        {"model": "b2", "line": "effnet", "latency_ms": 8.0, "accuracy": 77.0},
        {"model": "r18", "line": "resnet", "latency_ms": 3.0, "accuracy": 71.0},
    ]
    points, lines = compare_lines(FAMILY, rows)
    assert [s.line for s in lines] == ["effnet", "resnet"]
    eff = lines[0]
    # b0: +2 points, sqrt(2)x; b1: +2 points, 4 / 2 = 2x; b2: outside both ranges
    assert eff.n_gain == 2 and eff.accuracy_gain_mean == pytest.approx(2.0)
    assert eff.n_speedup == 2
    assert eff.speedup_geomean == pytest.approx(math.sqrt(math.sqrt(2) * 2.0))
    assert (eff.speedup_min, eff.speedup_max) == pytest.approx((math.sqrt(2), 2.0))
    assert "b2" in eff.statement and "not extrapolated" in eff.statement
    assert "2 of 3 models" in eff.statement
    res = lines[1]
    assert res.n_gain == 1 and res.accuracy_gain_mean == pytest.approx(
        FAMILY.accuracy_at(3.0) - 71.0
    )
    assert len(points) == 4


def test_latency_only_lines_make_no_accuracy_claims():
    rows = [{"model": "b0", "line": "effnet", "latency_ms": 2.0, "accuracy": None}]
    points, lines = compare_lines(FAMILY, rows)
    assert points[0].speedup is None and points[0].accuracy_gain is None
    assert "latency only" in lines[0].statement


def test_a_single_member_family_compares_only_at_its_latency():
    one = Curve.of([(2.0, 70.0)])
    assert one.accuracy_at(2.0) == 70.0 and one.accuracy_at(2.1) is None
    assert one.latency_for(69.0) == (2.0, BELOW)
    assert one.latency_for(71.0) == (None, ABOVE)
