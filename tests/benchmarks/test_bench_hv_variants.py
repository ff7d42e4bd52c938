"""The round-5 experiments of pool-bo's surrogate: the canonical-cell rule for dead NB201 edges
(an edge counts only on a path from the cell's input to its output; copies of one network
map to one canonical cell), the forest surrogate and the swap into pool-bo."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import hv_variants_nb201 as tool  # noqa: E402

from accelsearch.search import pool_bo, pool_surrogate  # noqa: E402
from accelsearch.spaces.nb201_blocks import OPS  # noqa: E402

NONE, SKIP, C1, C3, POOL = (OPS.index(o) for o in OPS)


def test_a_cell_whose_edges_all_lie_on_a_path_is_unchanged():
    row = [C3, C1, C3, SKIP, C1, POOL]  # (1,0) (2,0) (2,1) (3,0) (3,1) (3,2)
    assert tool.canonical_rows(np.array(row)).tolist() == [row]


def test_edges_off_every_input_output_path_become_none():
    # node 2 has no live input (edges (2,0), (2,1) none): (3,2) carries nothing; node 1
    # reaches the output only through node 2, so (1,0) carries nothing either
    row = [C3, NONE, NONE, SKIP, NONE, POOL]
    assert tool.canonical_rows(np.array(row)).tolist() == [[NONE, NONE, NONE, SKIP, NONE, NONE]]


def test_copies_of_one_network_share_their_canonical_cell_and_rows_are_not_modified():
    rows = np.array([[C3, NONE, NONE, SKIP, NONE, POOL], [C1, NONE, NONE, SKIP, NONE, C3]])
    before = rows.copy()
    out = tool.canonical_rows(rows)
    assert (out[0] == out[1]).all()
    assert (rows == before).all()


def test_a_cell_with_no_path_to_its_output_is_all_none():
    row = [C3, C3, C3, NONE, NONE, NONE]
    assert tool.canonical_rows(np.array(row)).tolist() == [[NONE] * 6]


def test_the_forest_fits_the_warped_targets_and_spreads_over_its_trees():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(40, 6)).astype(float)
    y = -(x @ np.arange(6.0)) + rng.normal(0, 0.1, 40)  # minimised: more ones in later columns
    model = tool.ForestSurrogate(seed=0).fit(x, y)
    mu, sigma = model.predict(np.array([[0.0] * 6, [1.0] * 6]))
    assert mu[1] < mu[0]  # the all-ones row is predicted better (lower)
    assert (sigma > 0).all()


def test_a_variant_is_swapped_into_pool_bo_and_an_unknown_one_is_refused(monkeypatch):
    # monkeypatch restores what use_variant replaces
    monkeypatch.setattr(pool_bo, "Surrogate", pool_bo.Surrogate)
    monkeypatch.setattr(pool_bo, "features", pool_bo.features)
    monkeypatch.setattr(
        pool_surrogate, "GaussianProcessRegressor", pool_surrogate.GaussianProcessRegressor
    )
    tool.use_variant("rf")
    assert pool_bo.Surrogate is tool.ForestSurrogate
    tool.use_variant("gp_restarts")
    assert pool_surrogate.GaussianProcessRegressor is tool.RestartedGP
    assert tool.RestartedGP().n_restarts_optimizer == 3
    tool.use_variant("canonical")
    encoding = type("Enc", (), {"cardinalities": [5] * 6, "ordered": [False] * 6})()
    dead = np.array([[OPS.index("nor_conv_3x3"), 0, 0, 1, 0, 4]])
    assert (
        pool_bo.features(encoding, dead)
        == pool_surrogate.features(encoding, tool.canonical_rows(dead))
    ).all()
    with pytest.raises(ValueError, match="canonical, rf, gp_restarts"):
        tool.use_variant("bananas")
