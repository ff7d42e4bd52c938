"""An experiment on NAS-Bench-201 (issue 18, point 3; round 5): pool-bo's GP sees each cell
as the network it computes, its dead edges written as ``none``.

Many NB201 cell strings compute one network: an edge whose input node the cell's input
never reaches, or whose output node never reaches the cell's output, carries nothing (the
measured latency table gives such copies one latency, which is how pool-bo's
``merge_equal_latency`` keeps one of them). pool-bo's one-hot features still encode the
dead edges' ops, so two copies sit apart in the GP's kernel and a kept member's dead edges
add distance that means nothing. Here every pool member's features are taken from its
canonical cell (dead edges -> ``none``) before the one-hot encoding; nothing else changes.
Runs, scores and the record's format are those of ``hv_gap_nb201.py run`` (same tables,
cache and scorer), so ``hv_gap_nb201.py gaps`` reads the output.

    python benchmarks/hv_canonical_nb201.py --seeds 10-49 --out X.json [--workers 2]

The features are swapped in each worker process (pool-bo's module-level ``features``); no
option of the product does this, since the round found no gain
(``results/search/hv_poolbo5_nb201_h200.md``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
for _path in (HERE.parent, HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import hv_gap_nb201 as hv  # noqa: E402

from accelsearch.spaces.nb201_blocks import EDGES, OPS  # noqa: E402

NONE = OPS.index("none")


def canonical_rows(idx: np.ndarray) -> np.ndarray:
    """Rows of NB201 op indices (``EDGES`` order) with every dead edge set to ``none``: an
    edge is live when it is not ``none``, the cell's input reaches its source node and its
    target node reaches the cell's output, each through edges that are not ``none``."""
    out = np.array(np.atleast_2d(idx), dtype=np.int64, copy=True)
    for row in out:
        on = {edge: row[k] != NONE for k, edge in enumerate(EDGES)}
        from_input = {0: True}
        for node in (1, 2, 3):
            from_input[node] = any(on[(node, j)] and from_input[j] for j in range(node))
        to_output = {3: True}
        for node in (2, 1, 0):
            to_output[node] = any(on[(i, node)] and to_output[i] for i in range(node + 1, 4))
        for k, (i, j) in enumerate(EDGES):
            if not (on[(i, j)] and from_input[j] and to_output[i]):
                row[k] = NONE
    return out


def _init(*args) -> None:
    """Worker start: pool-bo's features from the canonical cells, then the tables."""
    from accelsearch.search import pool_bo, pool_surrogate

    one_hot = pool_surrogate.features
    pool_bo.features = lambda encoding, idx: one_hot(encoding, canonical_rows(idx))
    hv.bench._init(*args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seeds", required=True, help="e.g. 10-49")
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--nb201-csv", default=hv.NB201)
    p.add_argument("--latency-csv", default=hv.LATENCY)
    args = p.parse_args(argv)
    record = {"options": {}, "features": "canonical cell", "evaluations": hv.EVALUATIONS}
    record.update(command=" ".join(sys.argv), runs=[])
    jobs = [(s, {}, hv.EVALUATIONS) for s in hv.seeds_of(args.seeds)]
    init = (args.nb201_csv, args.latency_csv, hv.FOCUS, None, "table")
    with mp.get_context("spawn").Pool(args.workers, _init, init) as pool:
        for res in pool.imap_unordered(hv.run_seed, jobs):
            record["runs"].append(res)
            Path(args.out).write_text(json.dumps(record))  # as runs finish
            print(f"seed {res['seed']}: {res['hv_focus']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
