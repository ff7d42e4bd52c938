"""The round-5 and round-6 experiments of pool-bo's surrogate: the canonical-cell rule for dead NB201 edges
(an edge counts only on a path from the cell's input to its output; copies of one network
map to one canonical cell), the path encoding, and the swap into pool-bo (the forest itself is
the product's, tested in ``tests/search/test_pool_surrogate.py``)."""

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


def test_a_variant_is_swapped_into_pool_bo_and_an_unknown_one_is_refused(monkeypatch):
    # monkeypatch restores what use_variant replaces
    monkeypatch.setattr(pool_bo, "Surrogate", pool_bo.Surrogate)
    monkeypatch.setattr(pool_bo, "features", pool_bo.features)
    monkeypatch.setattr(pool_bo, "forest_mode", pool_bo.forest_mode)
    monkeypatch.setattr(
        pool_surrogate, "GaussianProcessRegressor", pool_surrogate.GaussianProcessRegressor
    )
    tool.use_variant("rf")
    assert [pool_bo.forest_mode("gp", n) for n in (20, 21)] == ["alone", "alone"]
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
    tool.use_variant("paths")
    assert (pool_bo.features(encoding, dead) == tool.path_features(dead)).all()
    tool.use_variant("paths_edges")
    assert pool_bo.features(encoding, dead).shape == (1, 30 + 84)
    monkeypatch.setattr(pool_bo, "forest_mode", pool_surrogate.forest_mode)
    tool.use_variant("mixture")
    tool.use_variant("alternate")
    assert pool_bo.forest_mode is pool_surrogate.forest_mode  # they run as pool-bo options
    assert tool.OPTION_VARIANTS == {
        "mixture": {"surrogate": "gp+forest"},
        "alternate": {"surrogate": "alternate"},
    }
    with pytest.raises(ValueError, match="canonical, rf, gp_restarts, paths"):
        tool.use_variant("bananas")


def test_the_path_encoding_counts_each_live_input_output_path_by_its_op_sequence():
    live = {op: k for k, op in enumerate(OPS[1:])}  # ops but none, as 0..3
    row = [C3, C1, C3, SKIP, C1, POOL]  # (1,0) (2,0) (2,1) (3,0) (3,1) (3,2)
    out = tool.path_features(np.array(row))
    assert out.shape == (1, 4 + 16 + 64)
    n1, n2 = 4, 4 + 16  # where the length-2 and length-3 columns start
    on = {
        live["skip_connect"],  # 0 -> 3
        n1 + 4 * live["nor_conv_3x3"] + live["nor_conv_1x1"],  # 0 -> 1 -> 3
        n1 + 4 * live["nor_conv_1x1"] + live["avg_pool_3x3"],  # 0 -> 2 -> 3
        n2 + 16 * live["nor_conv_3x3"] + 4 * live["nor_conv_3x3"] + live["avg_pool_3x3"],
    }
    assert set(np.flatnonzero(out[0])) == on and out.sum() == 4


def test_a_path_through_a_none_edge_carries_nothing_and_equal_paths_add_up():
    only_direct = [NONE, NONE, NONE, C3, NONE, NONE]
    assert tool.path_features(np.array(only_direct)).sum() == 1
    assert tool.path_features(np.array([[NONE] * 6])).sum() == 0
    twins = [C1, C1, NONE, NONE, C3, C3]  # 0 -> 1 -> 3 and 0 -> 2 -> 3 both 1x1 then 3x3
    out = tool.path_features(np.array(twins))
    assert out.max() == 2 and out.sum() == 2


def test_options_join_the_variants_own_and_reach_the_record(monkeypatch, tmp_path):
    seen = {}
    monkeypatch.setattr(tool.hv, "run_seeds", lambda record, *a: seen.update(record=record))
    out = str(tmp_path / "x.json")
    tool.main(
        ["canonical", "--seeds", "10-11", "--out", out, "--options", '{"surrogate": "alternate"}']
    )
    assert seen["record"]["options"] == {"surrogate": "alternate"}
    assert seen["record"]["variant"] == "canonical"
    tool.main(["alternate", "--seeds", "10", "--out", out, "--options", '{"exploit_every": 4}'])
    assert seen["record"]["options"] == {"surrogate": "alternate", "exploit_every": 4}


def test_raw_ehvi_is_swapped_in_and_maps_warped_values_back(monkeypatch):
    monkeypatch.setattr(pool_bo.PoolBOSearcher, "_acquisition", tool.ORIGINAL_ACQUISITION)
    tool.use_variant("raw_ehvi")
    assert pool_bo.PoolBOSearcher._acquisition is tool.raw_hypervolume_improvement
    y = -np.array([10.0, 70.0, 85.0, 91.0, 93.5, 94.2])  # minimised accuracies, one poor
    model = pool_surrogate.Surrogate(seed=0).fit(np.eye(6), y)
    assert np.allclose(tool.unwarp(model, y, model.warp(y)), y, atol=0.1)
    ends = tool.unwarp(model, y, np.array([-50.0, 50.0]))  # beyond the table: its ends
    assert ends[0] <= y.min() and ends[1] >= y.max()
