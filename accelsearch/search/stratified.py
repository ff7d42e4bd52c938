"""``stratified``: GPUNet's latency-stratified search (Wang et al., §3.2-3.3).

1. Draw ``candidates`` scrambled-Sobol assignments of the space (the pool) and predict
   their latency with a latency predictor (the lookup table by default, see
   :mod:`accelsearch.search.predictors`) - no trial runs for this.
2. Bin the pool by predicted latency: ``bins: 5`` makes five equal-count bins,
   ``bins: [0.5, 0.8, 1.2]`` gives edges in ms (candidates outside are dropped).
3. Optimise the objective (e.g. accuracy) inside the bins asked for (``target_bins``,
   default all), taking turns between bins: each bin first evaluates ``init_per_bin``
   pool members in Sobol order (spread over the bin), then mostly the unevaluated members
   nearest (fewest differing parameters) to the bin's best so far, sometimes
   (``explore``) a random one. With ``surrogate: ridge`` the pick is instead the member a
   ridge regression on one-hot parameters, fitted on every evaluated member, predicts
   best (once 8 are evaluated). Every evaluated assignment comes from the pool, so its
   predicted latency is known and it stays in its bin.
4. The summary gives one winner per bin (``SearchResult.summary["bins"]``).

With a search budget on latency the pool is first restricted to the candidates whose
predicted latency is within it (``budget_margin``, default 5 %, keeps those predicted just
over it: the predictor errs, the measurement decides), so every bin lies under the budget;
this needs a predictor in milliseconds (the lookup table, or a callable), not FLOPs.
Unless ``target_bins`` says otherwise, the search then optimises the top bin only - the
candidates just under the budget, where the most accurate model under a latency budget
usually is (on NAS-Bench-201, under budgets at the 10th, 25th and 50th latency percentile,
the best feasible cell lies among the slowest fifth of the feasible cells). Winners are
feasible trials only.

Its state is small (predictions and indices into the pool); the pool is regenerated from
the seed when a search is resumed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accelsearch.core.errors import ConfigError
from accelsearch.search.budget import pool_within_budget
from accelsearch.search.predictors import check_predictor, make_predictor, predict_params, unit_of
from accelsearch.search.sampling import SobolStream
from accelsearch.search.searcher import Searcher
from accelsearch.search.strategy import register_searcher


@register_searcher(
    "stratified",
    multi=False,
    description="GPUNet: Sobol pool binned by predicted latency, best arch per bin",
    constraints="native",
)
class StratifiedSearcher(Searcher):
    defaults = {
        "candidates": 4096,
        "bins": 5,
        "target_bins": None,
        "predictor": "auto",
        "predictor_options": None,
        "init_per_bin": 4,
        "explore": 0.2,
        "budget_margin": 0.05,
        "surrogate": None,
    }
    option_kinds = {
        "predictor": (object,),  # a name, or from Python a callable or a LUT: check_predictor
        "bins": (int, list),
        "target_bins": (list,),
        "predictor_options": (dict,),
        "surrogate": (str,),  # null or "ridge" (checked below)
    }

    def __init__(self, space, objective, seed: int = 0, **options: Any) -> None:
        super().__init__(space, objective, seed, **options)
        o = self.options
        n = int(o["candidates"])
        if n < 2:
            raise ConfigError(f"search.options.candidates must be >= 2, got {n}")
        bins = o["bins"]
        if isinstance(bins, bool) or not isinstance(bins, (int, list, tuple)):
            raise ConfigError(
                f"search.options.bins must be a number of bins or a list of edges in ms, got {bins!r}"
            )
        if isinstance(bins, int) and bins < 1:
            raise ConfigError(f"search.options.bins must be >= 1, got {bins}")
        if isinstance(bins, (list, tuple)):
            numbers = all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in bins)
            edges = [float(b) for b in bins] if numbers else []
            if len(edges) < 2 or edges != sorted(edges):
                raise ConfigError(
                    f"search.options.bins as edges needs >= 2 ascending values (ms), got {bins}"
                )
        if not 0 <= float(o["explore"]) <= 1:
            raise ConfigError(f"search.options.explore must be in [0, 1], got {o['explore']}")
        if o["surrogate"] not in (None, "ridge"):
            raise ConfigError(
                f"search.options.surrogate is {o['surrogate']!r}; valid: null (nearest to the "
                "bin's best), 'ridge'"
            )
        check_predictor(o["predictor"], o["predictor_options"])
        n_bins = bins if isinstance(bins, int) else len(bins) - 1
        targets = o["target_bins"]
        if targets is not None:
            bad = [t for t in targets if not (isinstance(t, int) and 0 <= t < n_bins)]
            if bad or not targets:
                raise ConfigError(
                    f"search.options.target_bins has {bad or 'nothing'}; there are {n_bins} "
                    f"bins, numbered 0..{n_bins - 1} from the fastest"
                )
        self._predictor_spec = o["predictor"]
        self.n_candidates = n
        self.pool: np.ndarray | None = None  # N × d index matrix (regenerated from the seed)
        self.latency: np.ndarray | None = None  # predicted latency per pool member
        self.edges: list[float] = []
        self.members: list[np.ndarray] = []  # pool indices per bin
        self.bin_of: np.ndarray | None = None  # bin of each pool member (-1: outside)
        self.targets: list[int] = []
        self.evaluated: dict[int, tuple[int, float | None, dict[str, Any] | None]] = {}
        self.asked: set[int] = set()
        self.in_flight: dict[tuple, int] = {}
        self.turn = 0
        self.unit = "ms"

    def set_budget(self, budget) -> None:
        super().set_budget(budget)
        spec = self._predictor_spec
        if budget.on_latency and spec == "flops":
            raise ConfigError(
                f"strategy 'stratified' restricts its pool to the latency budget "
                f"({budget.describe()}) before any trial, which needs a predictor in ms; "
                "search.options.predictor is 'flops' (GFLOPs rank archs but are not ms): use "
                "predictor: lut (a lookup table for the recipe's GPU) or a callable Arch -> ms"
            )
        margin = self.options["budget_margin"]
        if isinstance(margin, bool) or not isinstance(margin, (int, float)) or margin < 0:
            raise ConfigError(f"search.options.budget_margin must be >= 0, got {margin!r}")

    def _latency_budget(self) -> bool:
        return self.search_budget is not None and self.search_budget.latency_ms is not None

    def _within_budget(self, latency: np.ndarray) -> np.ndarray:
        """Pool members whose predicted latency the budget (with its margin) admits."""
        margin = float(self.options["budget_margin"])
        return pool_within_budget(latency, self.search_budget, margin, self.unit, "stratified")

    # -- the pool ----------------------------------------------------------------------------
    def _make_pool(self) -> np.ndarray:
        stream = SobolStream(self.encoding.dim, self.seed, block=1024)
        return self.encoding.unit_to_indices(stream.take(self.n_candidates)).astype(np.int16)

    def _setup(self) -> None:
        self.pool = self._make_pool()
        predictor = make_predictor(
            self._predictor_spec, self.space, self.options["predictor_options"] or {}
        )
        self.unit = unit_of(predictor)
        params = [self.encoding.from_indices(row) for row in self.pool]
        self.latency = predict_params(predictor, self.space, params)
        admitted = self._within_budget(self.latency)
        bins = self.options["bins"]
        if isinstance(bins, int):
            qs = np.quantile(self.latency[admitted], np.linspace(0, 1, bins + 1))
            self.edges = [float(q) for q in qs]
            self.edges[-1] = float(np.nextafter(self.edges[-1], np.inf))
        else:
            self.edges = [float(b) for b in bins]
        n_bins = len(self.edges) - 1
        which = np.searchsorted(self.edges, self.latency, side="right") - 1
        which[(which < 0) | (which >= n_bins) | ~admitted] = -1
        self.bin_of = which.astype(np.int16)
        self.members = [np.flatnonzero(which == b) for b in range(n_bins)]
        targets = self.options["target_bins"]
        if targets is None and self._latency_budget():
            targets = [n_bins - 1]  # "the most accurate under the budget": the bin below it
        targets = list(range(n_bins)) if targets is None else [int(t) for t in targets]
        bad = [t for t in targets if not 0 <= t < n_bins]
        if bad:
            raise ConfigError(
                f"search.options.target_bins has {bad}; there are {n_bins} bins (0..{n_bins - 1})"
            )
        empty = [t for t in targets if len(self.members[t]) == 0]
        if len(empty) == len(targets):
            raise ConfigError(
                f"no candidate's predicted latency falls in the target bins {targets} with edges "
                f"{[round(e, 4) for e in self.edges]} {self.unit}; widen the bins"
            )
        self.targets = [t for t in targets if len(self.members[t])]

    # -- ask/tell ----------------------------------------------------------------------------
    def _ask_impl(self) -> dict[str, Any] | None:
        if self.latency is None:
            self._setup()
        elif self.pool is None:
            self.pool = self._make_pool()
        for _ in range(len(self.targets)):
            b = self.targets[self.turn % len(self.targets)]
            self.turn += 1
            i = self._pick(b)
            if i is None:
                continue
            params = self.encoding.from_indices(self.pool[i])
            key = self.encoding.key(params)
            if key in self.in_flight:
                self.asked.add(i)  # a duplicate pool member: skip it
                continue
            self.asked.add(i)
            self.in_flight[key] = i
            return params
        # every target bin is spent: fall back to any unasked pool member in a target bin
        return None

    def _pick(self, b: int) -> int | None:
        members = self.members[b]
        fresh = [i for i in members if i not in self.asked]
        if not fresh:
            return None
        done = [
            (v, i)
            for i, (bb, v, m) in self.evaluated.items()
            if bb == b and v is not None and not self.violation(m)
        ]
        n_started = sum(1 for i in members if i in self.asked)
        if n_started < int(self.options["init_per_bin"]) or not done:
            return int(fresh[0])  # Sobol order: spread over the bin
        if self.rng.random() < float(self.options["explore"]):
            return int(fresh[int(self.rng.integers(len(fresh)))])
        best = min(done)[1]
        cand = np.array(fresh)
        if self.options["surrogate"] == "ridge":
            pick = self._surrogate_pick(cand)
            if pick is not None:
                return pick
        dist = (self.pool[cand] != self.pool[best]).sum(axis=1)
        nearest = cand[dist == dist.min()]
        return int(nearest[int(self.rng.integers(len(nearest)))])

    def _surrogate_pick(self, cand: np.ndarray) -> int | None:
        """The candidate a ridge regression on one-hot parameters (fitted on every feasible
        evaluated member) predicts best; ``None`` while it has fewer than 8 points."""
        rows = [
            (i, v)
            for i, (_, v, m) in self.evaluated.items()
            if v is not None and not self.violation(m)
        ]
        if len(rows) < 8:
            return None
        x = self._one_hot(self.pool[[i for i, _ in rows]])
        y = np.array([v for _, v in rows])
        a = x.T @ x + np.eye(x.shape[1])
        w = np.linalg.solve(a, x.T @ (y - y.mean()))
        pred = self._one_hot(self.pool[cand]) @ w
        return int(cand[int(np.argmin(pred))])

    def _one_hot(self, idx: np.ndarray) -> np.ndarray:
        cards = self.encoding.cardinalities
        offsets = np.concatenate([[0], np.cumsum(cards)[:-1]])
        out = np.zeros((len(idx), int(cards.sum())))
        rows = np.arange(len(idx))[:, None]
        out[rows, offsets[None, :] + idx.astype(np.int64)] = 1.0
        return out

    def _tell_impl(self, suggestion_id, params, metrics, values) -> None:
        key = self.encoding.key(params)
        i = self.in_flight.pop(key, None)
        if i is None:
            return
        b = int(self.bin_of[i])
        self.evaluated[i] = (b, values[0] if values else None, metrics)

    def is_finished(self) -> bool:
        if self.latency is None or self.pool is None:
            return False
        return all(all(i in self.asked for i in self.members[b]) for b in self.targets)

    # -- results -----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        if self.latency is None:
            return {}
        metric = self.objective.metrics[0]
        out = []
        for b in self.targets:
            done = [
                (v, i, m)
                for i, (bb, v, m) in self.evaluated.items()
                if bb == b and v is not None and not self.violation(m)
            ]
            entry: dict[str, Any] = {
                "bin": b,
                "range": [self.edges[b], self.edges[b + 1]],
                "candidates": int(len(self.members[b])),
                "evaluated": sum(1 for (bb, _, _) in self.evaluated.values() if bb == b),
            }
            if done:
                v, i, m = min(done, key=lambda t: t[0])
                params = self.encoding.from_indices(self.pool[i]) if self.pool is not None else {}
                entry["winner"] = {
                    "params": params,
                    metric: m.get(metric),
                    "accuracy": m.get("accuracy"),
                    "predicted_latency": float(self.latency[i]),
                    "latency_ms": m.get("latency_ms"),
                    "arch": m.get("arch"),
                }
            out.append(entry)
        return {
            "strategy": "stratified",
            "metric": metric,
            "predictor_unit": self.unit,
            "edges": self.edges,
            "bins": out,
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["pool"] = None  # regenerated from the seed (keeps snapshots small)
        return state
