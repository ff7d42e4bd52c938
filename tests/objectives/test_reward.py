"""Rewards (MnasNet soft and hard, throughput), non-dominated sorting and hypervolume."""

from __future__ import annotations

import numpy as np
import pytest

from accelsearch.core.errors import ConfigError
from accelsearch.objectives import reward as R


def test_mnas_reward_at_and_off_target():
    assert R.mnas_reward(80.0, 2.0, 2.0) == 80.0
    assert R.mnas_reward(80.0, 4.0, 2.0, w=-0.09) == pytest.approx(80.0 * 2**-0.09)
    assert R.mnas_reward(80.0, 1.0, 2.0, w=-0.07) > 80.0


def test_mnas_reward_rejects_nonsense():
    with pytest.raises(ConfigError, match="target_ms must be a positive"):
        R.mnas_reward(1.0, 1.0, 0.0)
    with pytest.raises(ConfigError, match="positive latency"):
        R.mnas_reward(1.0, -1.0, 1.0)


def test_pareto_mask_mixed_senses():
    pts = [[90, 5.0], [85, 3.0], [80, 4.0], [95, 9.0], [95, 10.0]]
    assert R.pareto_mask(pts, ["max", "min"]) == [True, True, False, True, False]


def test_mnas_hard_reward_switches_exponent_at_the_target():
    assert R.mnas_hard_reward(80, 1.0, 2.0) == 80  # alpha = 0 inside the target
    assert R.mnas_hard_reward(80, 4.0, 2.0) == pytest.approx(40)  # beta = -1 beyond it
    assert R.mnas_hard_reward(80, 2.0, 2.0, alpha=-0.5, beta=-2) == 80
    soft = R.mnas_hard_reward(80, 3.0, 2.0, alpha=-0.07, beta=-0.07)
    assert soft == pytest.approx(R.mnas_reward(80, 3.0, 2.0, w=-0.07))
    with pytest.raises(ConfigError, match="target_ms"):
        R.mnas_hard_reward(80, 1.0, -1.0)


def test_throughput_reward():
    assert R.throughput_reward(75, 1000, 1000) == pytest.approx(0.75)
    assert R.throughput_reward(75, 2000, 1000, w=0.07) == pytest.approx(0.75 * 2**0.07)
    assert R.throughput_reward(75, 500, 1000) < 0.75
    with pytest.raises(ConfigError, match="throughput"):
        R.throughput_reward(75, -1, 1000)


def _brute_force_mask(pts, senses):
    p = np.asarray(pts, float) * np.array([-1 if s == "max" else 1 for s in senses])
    out = []
    for i in range(len(p)):
        dominated = any(
            np.all(p[j] <= p[i]) and np.any(p[j] < p[i]) for j in range(len(p)) if j != i
        )
        out.append(not dominated)
    return out


@pytest.mark.parametrize("senses", [["max", "min"], ["min", "min", "max"], ["max"]])
def test_pareto_mask_matches_brute_force(senses):
    rng = np.random.default_rng(1)
    pts = rng.integers(0, 6, size=(60, len(senses)))  # many ties and duplicates
    assert R.pareto_mask(pts, senses) == _brute_force_mask(pts, senses)


def test_non_dominated_sort_fronts():
    pts = [[90, 2], [85, 1], [80, 3], [90, 2], [70, 0.5], [60, 4]]
    fronts = R.non_dominated_sort(pts, ["max", "min"])
    assert [f.tolist() for f in fronts] == [[0, 1, 3, 4], [2], [5]]
    assert R.pareto_front(pts, ["max", "min"]).tolist() == [0, 1, 3, 4]
    assert R.non_dominated_sort(np.zeros((0, 2)), ["max", "min"]) == []


def test_bad_points_and_senses():
    with pytest.raises(ConfigError, match="'max' or 'min'"):
        R.pareto_front([[1, 2]], ["max", "up"])
    with pytest.raises(ConfigError, match="n×2"):
        R.pareto_front([[1, 2, 3]], ["max", "min"])
    with pytest.raises(ConfigError, match="non-finite"):
        R.pareto_front([[1, float("nan")]], ["max", "min"])


def test_hypervolume_of_known_sets():
    bounds = [(70, 90), (0.5, 3.0)]
    # one point at the best accuracy, latency 20 % into the range: (1.1 - 0) × (1.1 - 0.2)
    assert R.hypervolume([[90, 1.0]], ["max", "min"], bounds=bounds) == pytest.approx(0.99)
    # the ideal corner gets the whole box
    assert R.hypervolume([[90, 0.5]], ["max", "min"], bounds=bounds) == pytest.approx(1.21)
    # dominated points add nothing; two corners of a staircase add their union
    two = R.hypervolume([[90, 3.0], [70, 0.5], [75, 2.0]], ["max", "min"], bounds=bounds)
    expected = 1.1 * 0.1 + 0.1 * 1.1 - 0.1 * 0.1 + (1.1 - 0.75 - 0.1) * (1.1 - 0.6 - 0.1)
    assert two == pytest.approx(expected)
    assert R.hypervolume([], ["max", "min"], bounds=bounds) == 0.0


def test_hypervolume_grows_with_a_better_set_under_common_bounds():
    rng = np.random.default_rng(0)
    pts = np.column_stack([rng.uniform(60, 95, 200), rng.uniform(0.5, 5, 200)])
    bounds = [(pts[:, 0].min(), pts[:, 0].max()), (pts[:, 1].min(), pts[:, 1].max())]
    full = R.hypervolume(pts, ["max", "min"], bounds=bounds)
    front = pts[R.pareto_front(pts, ["max", "min"])]
    assert R.hypervolume(front, ["max", "min"], bounds=bounds) == pytest.approx(full)
    assert R.hypervolume(pts[:20], ["max", "min"], bounds=bounds) < full
    with pytest.raises(ConfigError, match="bounds"):
        R.hypervolume(pts, ["max", "min"], bounds=[(0, 1)])
