"""Experiments on NAS-Bench-201 (issue 18, point 3; round 5): pool-bo with its surrogate's
input or family changed, nothing else. No option of the product does these, since none
gained (``results/search/hv_poolbo5_nb201_h200.md``); the swap is made in each worker.

* ``canonical``: the GP sees each cell as the network it computes, its dead edges written as
  ``none``. Many NB201 strings compute one network: an edge whose source node the cell's
  input never reaches, or whose target never reaches the output, carries nothing (the
  measured latency table gives such copies one latency, which is how pool-bo's
  ``merge_equal_latency`` keeps one of them); the one-hot features still encode the dead
  edges' ops, so copies sit apart in the kernel and a kept member's dead edges add distance
  that means nothing.
* ``rf``: a random forest instead of the GP (SMAC's surrogate family: 100 trees, leaves of
  at least 2, 5/6 of the features per split), mean and spread over the trees, on the same
  warped targets.
* ``gp_restarts``: the GP's hyper-parameters fitted from 3 more random starts (is the
  maximum-likelihood fit the weak part?).

Runs, scores and the record's format are those of ``hv_gap_nb201.py run`` (same tables,
cache and scorer), so ``hv_gap_nb201.py gaps`` reads the output.

    python benchmarks/hv_variants_nb201.py canonical --seeds 10-49 --out X.json [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestRegressor
from sklearn.gaussian_process import GaussianProcessRegressor

HERE = Path(__file__).resolve().parent
for _path in (HERE.parent, HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import hv_gap_nb201 as hv  # noqa: E402

from accelsearch.search import pool_bo, pool_surrogate  # noqa: E402
from accelsearch.spaces.nb201_blocks import EDGES, OPS  # noqa: E402

NONE = OPS.index("none")
VARIANTS = ("canonical", "rf", "gp_restarts")


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


class ForestSurrogate(pool_surrogate.Surrogate):
    """pool-bo's surrogate as a random forest: mean and standard deviation over the trees."""

    def fit(self, x: np.ndarray, y: np.ndarray) -> ForestSurrogate:
        if self.warper is not None:
            self.warper.fit(np.asarray(y, dtype=float).reshape(-1, 1))
            y = self.warp(y)
        self.forest = RandomForestRegressor(
            n_estimators=100, min_samples_leaf=2, max_features=5 / 6, random_state=self.seed
        ).fit(x, y)
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        per_tree = np.stack([tree.predict(x) for tree in self.forest.estimators_])
        return per_tree.mean(axis=0), np.maximum(per_tree.std(axis=0), 1e-3)


class RestartedGP(GaussianProcessRegressor):
    """scikit-learn's GP with 3 restarts of its hyper-parameter fit, whatever pool-bo asks."""

    def __init__(self, kernel=None, *, n_restarts_optimizer=0, **kwargs):
        super().__init__(kernel=kernel, n_restarts_optimizer=3, **kwargs)


def use_variant(name: str) -> None:
    """Swap ``name``'s part into pool-bo (in this process)."""
    if name == "canonical":
        one_hot = pool_surrogate.features
        pool_bo.features = lambda encoding, idx: one_hot(encoding, canonical_rows(idx))
    elif name == "rf":
        pool_bo.Surrogate = ForestSurrogate
    elif name == "gp_restarts":
        pool_surrogate.GaussianProcessRegressor = RestartedGP
    else:
        raise ValueError(f"variant {name!r}: choose one of {', '.join(VARIANTS)}")


def _init(variant: str, *args) -> None:
    """Worker start: the variant's part, then the tables."""
    use_variant(variant)
    hv.bench._init(*args)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("variant", choices=VARIANTS)
    p.add_argument("--seeds", required=True, help="e.g. 10-49")
    p.add_argument("--out", required=True)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--nb201-csv", default=hv.NB201)
    p.add_argument("--latency-csv", default=hv.LATENCY)
    args = p.parse_args(argv)
    record = {"options": {}, "variant": args.variant, "evaluations": hv.EVALUATIONS}
    record.update(command=" ".join(sys.argv), runs=[])
    jobs = [(s, {}, hv.EVALUATIONS) for s in hv.seeds_of(args.seeds)]
    init = (args.variant, args.nb201_csv, args.latency_csv, hv.FOCUS, None, "table")
    with mp.get_context("spawn").Pool(args.workers, _init, init) as pool:
        for res in pool.imap_unordered(hv.run_seed, jobs):
            record["runs"].append(res)
            Path(args.out).write_text(json.dumps(record))  # as runs finish
            print(f"seed {res['seed']}: {res['hv_focus']:.4f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
