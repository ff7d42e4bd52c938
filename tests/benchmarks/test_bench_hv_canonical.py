"""The canonical-cell experiment's rule for dead NB201 edges: an edge counts only on a path
from the cell's input to its output; copies of one network map to one canonical cell."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import hv_canonical_nb201 as tool  # noqa: E402

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
