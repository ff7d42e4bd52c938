"""Experiments on NAS-Bench-201 (issue 18, point 3; rounds 5 to 7): pool-bo with its
surrogate's input or family changed, nothing else; the swap is made in each worker. Of
these only round 6's forest variants are in the product, as pool-bo's ``surrogate`` option
(``alternate``, ``gp+forest``; ``results/search/hv_poolbo6_nb201_h200.md``); the others
gained nothing (``hv_poolbo5_nb201_h200.md``).

* ``canonical``: the GP sees each cell as the network it computes, its dead edges written as
  ``none``. Many NB201 strings compute one network: an edge whose source node the cell's
  input never reaches, or whose target never reaches the output, carries nothing (the
  measured latency table gives such copies one latency, which is how pool-bo's
  ``merge_equal_latency`` keeps one of them); the one-hot features still encode the dead
  edges' ops, so copies sit apart in the kernel and a kept member's dead edges add distance
  that means nothing.
* ``rf``: a random forest instead of the GP at every fit (SMAC's surrogate family: 100
  trees, leaves of at least 2, 5/6 of the features per split), mean and spread over the
  trees, on the same warped targets: the product's ``Surrogate(forest="alone")``.
* ``gp_restarts``: the GP's hyper-parameters fitted from 3 more random starts (is the
  maximum-likelihood fit the weak part?).
* ``paths`` (round 6): the GP sees each cell by its input-to-output paths, the path
  encoding of BANANAS (White et al., AAAI 2021): one column per sequence of live ops along
  a path (4 of length 1, 16 of length 2, 64 of length 3), counting the cell's paths with that
  sequence; a path through a ``none`` edge carries nothing. A skip on ``(3,0)`` beside
  convolutions and one beside pools then share the one column of that path, and the
  convolution paths that make the first good are columns of their own, which one-hot edges
  cannot express (the diagnosis of round 5 on seed 28).
* ``paths_edges`` (round 6): the path columns beside the one-hot edge columns.
* ``mixture`` (round 6): the GP and the forest both fitted, their predictions pooled as an
  equal mixture (mean of the means; variance: mean of the variances plus the spread of the
  means). Round 5's forest found the fast end best and the GP the top: the mixture keeps the
  GP's spread where the forest is sure for want of splits. pool-bo's ``surrogate:
  gp+forest``.
* ``alternate`` (round 6): the forest alone at the asks with an odd number of trained cells,
  the GP at the others. pool-bo's ``surrogate: alternate``.
* ``raw_ehvi`` (round 7; round 4's candidate, with ``--options`` on any surrogate): the
  expected hypervolume improvement in accuracy units instead of the surrogate's warped
  scale - each candidate's value at 32 equal-probability quantiles of its warped Gaussian,
  mapped back through the warp (a monotone table over the trained values' range widened by
  its width on each side), the exact improvement averaged over them. The warp is steeper at
  the top, so the warped acquisition counts a point gained at the fast end as less.
* ``forest_1in3`` / ``forest_2in3`` (round 10): ``alternate`` with the forest at one ask in
  three / two in three instead of every other ask (by the number of trained cells).

Runs, scores and the record's format are those of ``hv_gap_nb201.py run`` (same tables,
cache and scorer), so ``hv_gap_nb201.py gaps`` reads the output.

    python benchmarks/hv_variants_nb201.py canonical --seeds 10-49 --out X.json [--workers 2] \\
        [--options '{"surrogate": "alternate"}']

``--options`` adds pool-bo options to the variant's swap (round 7: ``canonical`` with
``surrogate: alternate``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from scipy.stats import norm
from sklearn.gaussian_process import GaussianProcessRegressor

HERE = Path(__file__).resolve().parent
for _path in (HERE.parent, HERE):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import hv_gap_nb201 as hv  # noqa: E402
from nb201_latency_table import canonical  # noqa: E402

from accelsearch.search import pool_bo, pool_surrogate  # noqa: E402
from accelsearch.search.pool_acquisition import staircase  # noqa: E402
from accelsearch.spaces.nb201_blocks import OPS  # noqa: E402

VARIANTS = (
    "canonical",
    "rf",
    "gp_restarts",
    "paths",
    "paths_edges",
    "mixture",
    "alternate",
    "raw_ehvi",
    "forest_1in3",
    "forest_2in3",
)
#: variants that became pool-bo options: run with the option, nothing swapped (the same runs
#: as the swaps they were tried as)
OPTION_VARIANTS = {"mixture": {"surrogate": "gp+forest"}, "alternate": {"surrogate": "alternate"}}
#: quadrature nodes of ``raw_ehvi`` (equal-probability normal quantiles)
RAW_EHVI_NODES = 32
#: points of ``raw_ehvi``'s table from warped values back to accuracy
UNWARP_GRID = 2048
# input-to-output paths of the NB201 cell, as positions in ``EDGES`` (node 0 to node 3)
PATHS = ((3,), (0, 4), (1, 5), (0, 2, 5))


def canonical_rows(idx: np.ndarray) -> np.ndarray:
    """Rows of NB201 op indices (``EDGES`` order) with every dead edge set to ``none``, by
    the rule that groups the latency table's cells into graphs
    (:func:`nb201_latency_table.canonical`)."""
    rows = np.atleast_2d(np.asarray(idx, dtype=np.int64))
    return np.array(
        [[OPS.index(op) for op in canonical(tuple(OPS[k] for k in row))] for row in rows],
        dtype=np.int64,
    ).reshape(rows.shape)


def path_features(idx: np.ndarray) -> np.ndarray:
    """Rows of NB201 op indices (``EDGES`` order) as path-encoding counts: one column per
    sequence of live ops (lengths 1, 2, 3: 4 + 16 + 64 columns, sequences in lexicographic
    order of op index), the number of the cell's paths with that sequence."""
    rows = np.atleast_2d(np.asarray(idx, dtype=np.int64))
    live = len(OPS) - 1  # ops but none, as 0..live-1
    offsets = {1: 0, 2: live, 3: live + live**2}
    out = np.zeros((len(rows), live + live**2 + live**3))
    for r, row in enumerate(rows):
        for path in PATHS:
            ops = [int(row[e]) - 1 for e in path]  # none -> -1
            if min(ops) < 0:
                continue
            code = 0
            for op in ops:
                code = code * live + op
            out[r, offsets[len(path)] + code] += 1.0
    return out


class RestartedGP(GaussianProcessRegressor):
    """scikit-learn's GP with 3 restarts of its hyper-parameter fit, whatever pool-bo asks."""

    def __init__(self, kernel=None, *, n_restarts_optimizer=0, **kwargs):
        super().__init__(kernel=kernel, n_restarts_optimizer=3, **kwargs)


def unwarp(model, raw_values: np.ndarray, warped: np.ndarray) -> np.ndarray:
    """Warped values back in the metric's units, through a monotone table over the trained
    values' range widened by its own width on each side (the power transform's own inverse
    is undefined far on one side)."""
    lo, hi = float(raw_values.min()), float(raw_values.max())
    span = max(hi - lo, 1e-9)
    raw = np.linspace(lo - span, hi + span, UNWARP_GRID)
    return np.interp(warped, model.warp(raw), raw)


def raw_hypervolume_improvement(self, mu, sigma, fresh, model) -> np.ndarray:
    """pool-bo's acquisition for a front, in the metric's units (``raw_ehvi``); one metric
    as pool-bo's own. Runs sequentially here, so no trial is in flight at an ask."""
    if not self.objective.multi:
        return ORIGINAL_ACQUISITION(self, mu, sigma, fresh, model)
    feasible = self._feasible_trained()
    values = np.array([v for v, _, _ in feasible])
    front = np.array([i for _, _, i in feasible], dtype=np.int64)
    q = norm.ppf((np.arange(RAW_EHVI_NODES) + 0.5) / RAW_EHVI_NODES)
    nodes = unwarp(model, values, mu[:, None] + sigma[:, None] * q[None, :])
    ref_latency = float(self.latency[self.admitted].max())
    edges, levels = staircase(values, self.latency[front], self._reference(), ref_latency)
    t = self.latency[fresh][:, None]
    overlap = np.clip(edges[None, 1:] - np.maximum(edges[None, :-1], t), 0.0, None)
    total = np.zeros(len(fresh))
    for k in range(nodes.shape[1]):  # one node at a time: candidates x steps stays small
        total += (overlap * np.clip(levels[None, :] - nodes[:, k, None], 0.0, None)).sum(1)
    return total / nodes.shape[1]


ORIGINAL_ACQUISITION = pool_bo.PoolBOSearcher._acquisition


def use_variant(name: str) -> None:
    """Swap ``name``'s part into pool-bo (in this process); variants that are pool-bo
    options swap nothing."""
    if name == "canonical":
        one_hot = pool_surrogate.features
        pool_bo.features = lambda encoding, idx: one_hot(encoding, canonical_rows(idx))
    elif name == "rf":  # the product's forest alone at every fit
        pool_bo.forest_mode = lambda surrogate, n_points: "alone"
    elif name == "forest_1in3":  # round 10: alternate's forest at one ask in three
        pool_bo.forest_mode = lambda surrogate, n_points: None if n_points % 3 else "alone"
    elif name == "forest_2in3":  # ... and at two asks in three
        pool_bo.forest_mode = lambda surrogate, n_points: "alone" if n_points % 3 else None
    elif name in OPTION_VARIANTS:
        pass  # main() passes the option
    elif name in ("paths", "paths_edges"):
        one_hot = pool_surrogate.features
        if name == "paths":
            pool_bo.features = lambda encoding, idx: path_features(idx)
        else:
            pool_bo.features = lambda encoding, idx: np.hstack(
                [one_hot(encoding, idx), path_features(idx)]
            )
    elif name == "gp_restarts":
        pool_surrogate.GaussianProcessRegressor = RestartedGP
    elif name == "raw_ehvi":
        pool_bo.PoolBOSearcher._acquisition = raw_hypervolume_improvement
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
    p.add_argument("--options", help="pool-bo options (JSON) beside the variant's")
    args = p.parse_args(argv)
    options = {**OPTION_VARIANTS.get(args.variant, {}), **json.loads(args.options or "{}")}
    record = {"options": options, "variant": args.variant, "evaluations": hv.EVALUATIONS}
    init = (args.variant, args.nb201_csv, args.latency_csv, hv.FOCUS, None, "table")
    hv.run_seeds(record, args.seeds, args.out, args.workers, _init, init)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
