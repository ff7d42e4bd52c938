"""EfficientNet's accuracy-only compound scaling: constraint, φ as a FLOPs budget, grid search."""

from __future__ import annotations

import math

import pytest
from lacs_synthetic import small_base, synthetic_ms

from accelsearch.core.errors import ConfigError
from accelsearch.scaling import (
    EFFICIENTNET_COEFFICIENTS,
    CompoundScaling,
    compound,
    constraint_grid,
    flops_growth,
    phi_for_flops,
)
from accelsearch.scaling.predict import count_flops

BASE = small_base()


def test_published_coefficients_satisfy_the_constraint():
    assert EFFICIENTNET_COEFFICIENTS == (1.2, 1.1, 1.15)
    assert flops_growth() == pytest.approx(1.2 * 1.1**2 * 1.15**2)
    assert abs(flops_growth() - 2) < 0.1


def test_constraint_grid():
    grid = constraint_grid()
    assert EFFICIENTNET_COEFFICIENTS in grid
    assert all(abs(flops_growth(t) / 2 - 1) <= 0.1 for t in grid)
    assert all(min(t) >= 1.0 and max(t) <= 1.4 for t in grid)
    assert len(constraint_grid(rel_tolerance=0.02)) < len(grid)


def test_phi_is_a_flops_budget():
    assert phi_for_flops(flops_growth()) == pytest.approx(1.0)
    assert phi_for_flops(4.0) == pytest.approx(math.log(4) / math.log(flops_growth()))
    # counted FLOPs follow the budget up to rounding
    for ratio in (2.0, 4.0, 8.0):
        arch = compound(BASE, *EFFICIENTNET_COEFFICIENTS, phi_for_flops(ratio))
        got = count_flops(arch)["Global"] / count_flops(BASE)["Global"]
        assert got == pytest.approx(ratio, rel=0.25)
    with pytest.raises(ConfigError):
        phi_for_flops(0.0)


def test_accuracy_only_grid_search_picks_the_most_accurate_triple():
    grid = [(1.2, 1.1, 1.15), (1.4, 1.0, 1.2), (1.1, 1.2, 1.1)]

    def accuracy(arch):  # prefers resolution
        return arch.resolution / 10

    cs = CompoundScaling(grid=grid, accuracy=accuracy, latency=synthetic_ms, printer=lambda s: None)
    family = cs.run(BASE, flops_ratios=[2.0, 4.0], name="eff")
    best = max(grid, key=lambda t: compound(BASE, *t, 1.0).resolution)
    assert (family.alpha, family.beta, family.gamma) == best
    assert family.method == "efficientnet"
    assert [m.phi for m in family.members] == pytest.approx(
        [0.0, phi_for_flops(2.0, best), phi_for_flops(4.0, best)]
    )
    assert all(m.latency_ms == synthetic_ms(m.arch) for m in family.members)
    published = cs.run(BASE, [2.0], coefficients=EFFICIENTNET_COEFFICIENTS)
    assert (published.alpha, published.beta, published.gamma) == EFFICIENTNET_COEFFICIENTS
    with pytest.raises(ConfigError, match="FLOPs ratios"):
        cs.run(BASE, [1.0])
    with pytest.raises(ConfigError, match="below 1"):
        CompoundScaling(grid=[(1.2, 0.5, 1.0)])
