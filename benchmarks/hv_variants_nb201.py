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
from nb201_latency_table import canonical  # noqa: E402

from accelsearch.search import pool_bo, pool_surrogate  # noqa: E402
from accelsearch.spaces.nb201_blocks import OPS  # noqa: E402

VARIANTS = ("canonical", "rf", "gp_restarts")


def canonical_rows(idx: np.ndarray) -> np.ndarray:
    """Rows of NB201 op indices (``EDGES`` order) with every dead edge set to ``none``, by
    the rule that groups the latency table's cells into graphs
    (:func:`nb201_latency_table.canonical`)."""
    rows = np.atleast_2d(np.asarray(idx, dtype=np.int64))
    return np.array(
        [[OPS.index(op) for op in canonical(tuple(OPS[k] for k in row))] for row in rows],
        dtype=np.int64,
    ).reshape(rows.shape)


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
    init = (args.variant, args.nb201_csv, args.latency_csv, hv.FOCUS, None, "table")
    hv.run_seeds(record, args.seeds, args.out, args.workers, _init, init)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
