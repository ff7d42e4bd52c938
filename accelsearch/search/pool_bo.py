"""``pool-bo``: Bayesian optimisation over a pool of candidates whose latency is known first.

A candidate's latency is predicted before anything is built (the per-layer lookup table, or
any ``Arch -> ms`` predictor), so a search for the accuracy-latency front reduces to
choosing *which candidates to train*. This strategy:

1. makes the pool: the whole space when it has at most ``candidates`` assignments
   (NAS-Bench-201's 15,625 cells), else ``candidates`` scrambled-Sobol assignments; it
   predicts every member's latency (no trial runs for this);
2. trains ``n_startup_trials`` members spread over the predicted latency range (one
   random member per equal-count latency stratum);
3. then fits a surrogate of the modelled metric (accuracy) to the trained members - a
   Gaussian process on one-hot categorical and scaled ordered parameters, by default in
   turn with a random forest for a front (``surrogate``, ``per_parameter``,
   ``summed_kernel``: :mod:`accelsearch.search.pool_surrogate`) - and trains the member
   with the largest acquisition: for ``[accuracy, latency_ms]`` the expected hypervolume
   improvement with the member's latency taken as known
   (:mod:`accelsearch.search.pool_acquisition`: a closed form, nothing sampled); for one
   metric the expected improvement over the best feasible value. Every ``local_every``-th
   ask (default: every ask for a front, every second for one metric) chooses only among
   members one or two parameters away from the current front (for one metric: the three
   best); under a latency budget with one metric the predicted latency is also a GP
   feature (``latency_feature``). ``exploit_every: k`` (off): every k-th ask trains the
   GP-best unasked member one parameter from the best trained ones
   (:mod:`accelsearch.search.pool_exploit`; NB201: +0.003 HV ratio, not enough to confirm).

With a latency budget the pool is cut to the members predicted within it (``budget_margin``,
5 %, admits those just over: the predictor errs, the measurement decides) before any trial;
a trial over the budget does not join the front. Front and acquisition use the *predicted*
latency of every member, trained or not, so the two always share one scale (whatever the
predictor's unit); the result's front is the trials' measured latency, as for any strategy.

State is small; the pool is regenerated from the seed when a search is resumed.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from accelsearch.core.errors import ConfigError
from accelsearch.search.budget import pool_within_budget
from accelsearch.search.pool_acquisition import expected_improvement, hypervolume_improvement
from accelsearch.search.pool_exploit import exploit_candidates, representatives
from accelsearch.search.pool_surrogate import (
    DEFAULT_SURROGATE,
    SURROGATES,
    Surrogate,
    features,
    forest_mode,
    parameter_of_column,
)
from accelsearch.search.predictors import check_predictor, make_predictor, predict_params, unit_of
from accelsearch.search.sampling import SobolStream
from accelsearch.search.searcher import Searcher
from accelsearch.search.strategy import register_searcher

LATENCY = "latency_ms"
#: the latency feature's weight with a latency budget and one metric (NB201 budget benchmark,
#: 25th-percentile budget: 10/10 seeds within 0.3 points after 50 trainings with it, 9/10
#: without)
AUTO_LATENCY_FEATURE = 3.0
#: neighbourhood steps by default: every ask for a front (many front members, many
#: neighbours; NB201: HV ratio 0.980 in the acc >= 85 % region at 100, 0.976 with every
#: second ask), every second ask for one metric (around the three best only: a search that
#: only stepped there stayed on a plateau)
LOCAL_EVERY = {True: 1, False: 2}
#: merge equal predicted latencies only where the pool's distinct values are at least this
#: share of its members: between NB201's measured table (8,789 values for 15,625 cells, 0.56;
#: the additive per-edge model 0.60), whose ties are copies of one graph, and the per-layer
#: table at batch 1 (28 values, 0.002), whose ties are its coarseness
MERGE_MIN_DISTINCT = 0.1


@register_searcher(
    "pool-bo",
    description="pool whose latency is predicted, GP on accuracy, expected hypervolume "
    "improvement (expected improvement for one metric)",
    constraints="native",
)
class PoolBOSearcher(Searcher):
    defaults = {
        "candidates": 16384,
        "predictor": "auto",
        "predictor_options": None,
        "n_startup_trials": 20,
        "reference": None,
        "budget_margin": 0.05,
        "warp": True,
        "merge_equal_latency": True,
        "latency_feature": None,
        "local_every": None,
        "per_parameter": False,
        "exploit_every": None,
        "summed_kernel": False,
        "surrogate": None,  # DEFAULT_SURROGATE: by the number of metrics
    }
    option_kinds = {
        "predictor": (object,),  # a name, or from Python a callable or a LUT: check_predictor
        "predictor_options": (dict,),
        "reference": (int, float),
        "latency_feature": (int, float),
        "local_every": (int,),
        "exploit_every": (int,),
        "surrogate": (str,),
    }

    def __init__(self, space, objective, seed: int = 0, **options: Any) -> None:
        super().__init__(space, objective, seed, **options)
        o = self.options
        if int(o["candidates"]) < 2:
            raise ConfigError(f"search.options.candidates must be >= 2, got {o['candidates']}")
        if int(o["n_startup_trials"]) < 2:
            raise ConfigError(
                f"search.options.n_startup_trials must be >= 2 (a GP needs points), got "
                f"{o['n_startup_trials']}"
            )
        margin = o["budget_margin"]
        if isinstance(margin, bool) or margin < 0:
            raise ConfigError(f"search.options.budget_margin must be >= 0, got {margin!r}")
        if o["surrogate"] is not None and o["surrogate"] not in SURROGATES:
            raise ConfigError(
                f"search.options.surrogate must be one of {', '.join(SURROGATES)} or null "
                f"({DEFAULT_SURROGATE[True]} for a front, {DEFAULT_SURROGATE[False]} for one "
                f"metric), got {o['surrogate']!r}"
            )
        self.modelled = self._modelled_metric(objective)
        check_predictor(o["predictor"], o["predictor_options"])
        self._predictor_spec = o["predictor"]
        self.pool: np.ndarray | None = None  # N x d index matrix (regenerated from the seed)
        self.latency: np.ndarray | None = None  # predicted latency per pool member
        self.admitted: np.ndarray | None = None  # members within the budget
        self.unit = "ms"
        self.asked: set[int] = set()
        self.in_flight: dict[tuple, int] = {}
        #: pool index -> (modelled value to minimise or None, feasible)
        self.trained: dict[int, tuple[float | None, bool]] = {}
        self._strata: list[np.ndarray] = []
        self._rep: np.ndarray | None = None  # pool member -> its admitted representative

    @property
    def surrogate(self) -> str:
        """The ``surrogate`` option, else :data:`DEFAULT_SURROGATE` (read on use: a run
        saved with ``gp`` in its options resumes with ``gp``)."""
        return self.options["surrogate"] or DEFAULT_SURROGATE[self.objective.multi]

    @staticmethod
    def _modelled_metric(objective) -> int:
        """Index of the metric the GP models: the only one, or the one beside latency_ms."""
        if not objective.multi:
            return 0
        others = [i for i, m in enumerate(objective.metrics) if m != LATENCY]
        if len(objective.metrics) != 2 or len(others) != 1:
            raise ConfigError(
                f"strategy 'pool-bo' predicts latency and models one more metric: "
                f"search.options.objectives must be one metric or two with latency_ms, e.g. "
                f"[accuracy, latency_ms]; got {list(objective.metrics)}"
            )
        return others[0]

    def set_budget(self, budget) -> None:
        super().set_budget(budget)
        if budget.on_latency and self._predictor_spec == "flops":
            raise ConfigError(
                f"strategy 'pool-bo' restricts its pool to the latency budget "
                f"({budget.describe()}) before any trial, which needs a predictor in ms; "
                "search.options.predictor is 'flops': use predictor: lut (a lookup table for "
                "the recipe's GPU) or a callable Arch -> ms"
            )

    # -- the pool ----------------------------------------------------------------------------
    def _make_pool(self) -> np.ndarray:
        n, cards = int(self.options["candidates"]), self.encoding.cardinalities
        if self.encoding.size() <= n:  # small space: every assignment
            return np.array(list(itertools.product(*(range(c) for c in cards))), dtype=np.int16)
        stream = SobolStream(self.encoding.dim, self.seed, block=1024)
        idx = self.encoding.unit_to_indices(stream.take(n)).astype(np.int16)
        _, first = np.unique(idx, axis=0, return_index=True)
        return idx[np.sort(first)]  # repeats dropped, Sobol order kept

    def _setup(self) -> None:
        self.pool = self._make_pool()
        predictor = make_predictor(
            self._predictor_spec, self.space, self.options["predictor_options"] or {}
        )
        self.unit = unit_of(predictor)
        params = [self.encoding.from_indices(row) for row in self.pool]
        self.latency = np.asarray(predict_params(predictor, self.space, params), dtype=float)
        self.admitted = self._one_per_latency(np.flatnonzero(self._within_budget(self.latency)))
        order = self.admitted[np.argsort(self.latency[self.admitted], kind="stable")]
        k = min(int(self.options["n_startup_trials"]), len(order))
        strata = np.array_split(order, k)
        self._strata = [strata[i] for i in self.rng.permutation(k)]

    def _one_per_latency(self, members: np.ndarray) -> np.ndarray:
        """One random member per predicted latency value (``merge_equal_latency``, ms
        predictors only): members that tie are one network written differently (NB201: cells
        whose differing edges never reach the output), and training both trains it twice.
        Not where the predictor is coarse (:data:`MERGE_MIN_DISTINCT`, taken over the whole
        pool: under a tight budget most admitted members can be genuine copies)."""
        if not self.options["merge_equal_latency"] or self.unit != "ms":
            return members
        if len(np.unique(self.latency)) < MERGE_MIN_DISTINCT * len(self.latency):
            return members  # a coarse predictor (over the whole pool, not the budget's cut)
        shuffled = members[self.rng.permutation(len(members))]
        _, first = np.unique(self.latency[shuffled], return_index=True)
        return np.sort(shuffled[first])

    def _within_budget(self, latency: np.ndarray) -> np.ndarray:
        """Pool members whose predicted latency the budget (with its margin) admits."""
        margin = float(self.options["budget_margin"])
        return pool_within_budget(latency, self.search_budget, margin, self.unit, "pool-bo")

    # -- ask/tell ----------------------------------------------------------------------------
    def _ask_impl(self) -> dict[str, Any] | None:
        if self.latency is None:
            self._setup()
        elif self.pool is None:
            self.pool = self._make_pool()
        fresh = np.array([i for i in self.admitted if i not in self.asked], dtype=np.int64)
        if not len(fresh):
            return None
        i = self._pick(fresh)
        self.asked.add(i)
        params = self.encoding.from_indices(self.pool[i])
        self.in_flight[self.encoding.key(params)] = i
        return params

    def _pick(self, fresh: np.ndarray) -> int:
        points = [(i, v) for i, (v, _) in self.trained.items() if v is not None]
        if len(self.asked) < len(self._strata) or len(points) < 2:
            return self._startup_pick(fresh)
        x = self._features(np.array([i for i, _ in points], dtype=np.int64))
        y = np.array([v for _, v in points])
        model = Surrogate(
            seed=self.seed,
            warp=bool(self.options["warp"]),
            groups=self._length_groups(x),
            summed=bool(self.options["summed_kernel"]),
            forest=forest_mode(self.surrogate, len(y)),
        ).fit(x, y)
        near_best = self._exploit_step(fresh)
        if len(near_best):  # exploitation: the GP's best one parameter from the best
            mu, _ = model.predict(self._features(near_best))
            return int(near_best[int(np.argmin(mu))])
        fresh = self._maybe_local(fresh)
        mu, sigma = model.predict(self._features(fresh))
        score = self._acquisition(mu, sigma, fresh, model)
        best = np.flatnonzero(score >= score.max() - 1e-12 * max(1.0, abs(score.max())))
        return int(fresh[best[0]] if len(best) == 1 else fresh[self.rng.choice(best)])

    def _length_groups(self, x: np.ndarray) -> np.ndarray | None:
        """The GP's length-scale groups (``per_parameter``): one per parameter, and one for
        the latency feature where :meth:`_features` adds it. ``summed_kernel``: these
        scales' kernel plus one of one length scale."""
        if not (self.options["per_parameter"] or self.options["summed_kernel"]):
            return None
        groups = parameter_of_column(self.encoding)
        extra = x.shape[1] - len(groups)  # the latency feature's column
        return np.concatenate([groups, np.full(extra, groups.max() + 1)])

    def _exploit_step(self, fresh: np.ndarray) -> np.ndarray:
        """Every ``exploit_every``-th ask (off by default): the unasked members one parameter
        away from the best trained ones (:mod:`accelsearch.search.pool_exploit`); empty on
        the other asks or where none is left."""
        k = self.options["exploit_every"]
        if k is None or not self._kth_ask(int(k)):
            return np.empty(0, dtype=np.int64)
        if self._rep is None:
            self._rep = representatives(self.latency, self.admitted, len(self.pool))
        best_first = [i for _, i in sorted((v, i) for v, _, i in self._feasible_trained())]
        return exploit_candidates(self.pool, self._rep, best_first, fresh)

    def _kth_ask(self, k: int) -> bool:
        """Whether this ask is the k-th since the last such one (counted after the startup
        strata); never for ``k <= 0``."""
        return k > 0 and (len(self.asked) - len(self._strata)) % k == k - 1

    def _feasible_trained(self) -> list[tuple[float, float, int]]:
        """``(modelled value, predicted latency, pool index)`` of the feasible trained members."""
        return [
            (v, self.latency[i], i) for i, (v, ok) in self.trained.items() if v is not None and ok
        ]

    def _maybe_local(self, fresh: np.ndarray) -> np.ndarray:
        """Every ``local_every``-th ask: only members one or two parameters away from a
        trained member on the current front (feasible, not dominated in value and predicted
        latency) - the near neighbours of the best archs, where a GP fitted on few points
        ranks least reliably and the best archs usually lie."""
        k = self.options["local_every"]
        if k is None:  # the front: every ask; one metric: every second (see LOCAL_EVERY)
            k = LOCAL_EVERY[self.objective.multi]
        if not self._kth_ask(int(k)):
            return fresh
        done = self._feasible_trained()
        front, best = [], np.inf
        if not self.objective.multi:  # one metric: the three best so far
            front = [i for _, _, i in sorted(done)[:3]]
        for v, _, i in sorted(done, key=lambda d: (d[1], d[0])) if self.objective.multi else []:
            if v < best:
                front.append(i)
                best = v
        if not front:
            return fresh
        dist = (self.pool[fresh][:, None, :] != self.pool[front][None, :, :]).sum(axis=2)
        near = fresh[dist.min(axis=1) <= 2]
        return near if len(near) else fresh

    def _features(self, members: np.ndarray) -> np.ndarray:
        """GP features of pool members: their parameters and (``latency_feature``, a weight)
        their predicted latency on a log scale, spread over [0, weight] across the pool -
        cost and accuracy go together, and the latency of every member is known. ``None``
        (the default) turns it on for one metric under a latency budget, where accuracy is
        all the GP models and the best arch usually lies just under the budget."""
        x = features(self.encoding, self.pool[members])
        weight = self.options["latency_feature"]
        if weight is None:  # auto: on for "the most accurate under a latency budget"
            on_budget = self.search_budget is not None and self.search_budget.on_latency
            weight = AUTO_LATENCY_FEATURE if on_budget and not self.objective.multi else 0.0
        if not weight:
            return x
        log_t = np.log(np.maximum(self.latency, 1e-12))
        lo, hi = log_t.min(), log_t.max()
        scaled = (log_t[members] - lo) / (hi - lo if hi > lo else 1.0)
        return np.hstack([x, weight * scaled[:, None]])

    def _startup_pick(self, fresh: np.ndarray) -> int:
        """A random unasked member of the next latency stratum (any, once they are spent)."""
        fresh_set = set(fresh.tolist())
        for k in range(len(self.asked), len(self.asked) + len(self._strata)):
            members = [i for i in self._strata[k % len(self._strata)] if i in fresh_set]
            if members:
                return int(members[int(self.rng.integers(len(members)))])
        return int(fresh[int(self.rng.integers(len(fresh)))])

    def _acquisition(self, mu, sigma, fresh, model) -> np.ndarray:
        feasible = self._feasible_trained()
        values = model.warp(np.array([v for v, _, _ in feasible]))
        if not self.objective.multi:
            level = values.min() if len(values) else mu.min()
            return expected_improvement(mu, sigma, level)
        # running trials count as trained at the GP's mean (a "kriging believer")
        running = np.array(list(self.in_flight.values()), dtype=np.int64)
        front_idx = np.array([i for _, _, i in feasible], dtype=np.int64)
        if len(running):
            guess, _ = model.predict(self._features(running))
            values = np.concatenate([values, guess])
            front_idx = np.concatenate([front_idx, running])
        return hypervolume_improvement(
            mu,
            sigma,
            self.latency[fresh],
            values,
            self.latency[front_idx],
            float(model.warp([self._reference()])[0]),
            float(self.latency[self.admitted].max()),
        )

    def _reference(self) -> float:
        """The modelled value beyond which nothing counts (minimised): the option, else the
        worst value trained so far."""
        ref = self.options["reference"]
        if ref is not None:
            mode = self.objective.modes[self.modelled]
            return -float(ref) if mode == "max" else float(ref)
        return max(v for v, _ in self.trained.values() if v is not None)

    def _tell_impl(self, suggestion_id, params, metrics, values) -> None:
        i = self.in_flight.pop(self.encoding.key(params), None)
        if i is None:
            return
        value = None if values is None else float(values[self.modelled])
        self.trained[i] = (value, not self.violation(metrics))

    def is_finished(self) -> bool:
        if self.admitted is None:
            return False
        return len(self.asked) >= len(self.admitted)

    # -- results -----------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        if self.latency is None:
            return {}
        return {
            "strategy": "pool-bo",
            "metric": self.objective.metrics[self.modelled],
            "surrogate": self.surrogate,
            "predictor_unit": self.unit,
            "pool": int(len(self.latency)),
            "admitted": int(len(self.admitted)),
            "trained": sum(v is not None for v, _ in self.trained.values()),
            "startup": len(self._strata),
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["pool"] = None  # regenerated from the seed (keeps snapshots small)
        state["_rep"] = None
        return state
