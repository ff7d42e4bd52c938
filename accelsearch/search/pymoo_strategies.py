"""pymoo's genetic algorithms over mixed integer/categorical spaces, through ask/tell.

``pymoo-nsga2`` (NSGA-II, single or multi-objective) and ``pymoo-smsemoa`` (SMS-EMOA,
hypervolume-based survival, multi-objective). Variables come from ``space.pymoo_vars()``
(``Integer`` over value indices for ordered kinds, ``Choice`` for categorical ones) and go
back through :func:`accelsearch.spaces.distributions.from_pymoo`; pymoo's mixed-variable
sampling, mating and duplicate elimination handle them.

Concurrency: a generation is handed out one individual at a time; results come back in any
order and the generation is told to pymoo when its last individual is back (until then
``ask`` returns ``None`` and Ray Tune waits, so choose ``pop_size`` as a multiple of
``search.max_concurrent``). A failed trial becomes an infeasible individual (constraint
violation 1), so survival ranks it below every feasible one. With a budget, a trial over it
is an infeasible individual whose violation is how far it broke the budget (relative:
0.2 for 2.4 ms under 2 ms), so pymoo's constrained survival prefers the nearly feasible; one
that was not trained stands in with the worst objectives seen. An individual already
evaluated in an earlier generation is answered from a cache, not evaluated again.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accelsearch.core.errors import ConfigError
from accelsearch.search.searcher import Searcher
from accelsearch.search.strategy import register_searcher
from accelsearch.spaces.distributions import from_pymoo


class PymooSearcher(Searcher):
    """Base: one pymoo ``GeneticAlgorithm`` driven by ask/tell over a space."""

    defaults = {"pop_size": 20, "n_offsprings": None}
    option_kinds = {"n_offsprings": (int,)}

    def __init__(self, space, objective, seed: int = 0, **options: Any) -> None:
        super().__init__(space, objective, seed, **options)
        from pymoo.core.problem import Problem
        from pymoo.core.termination import NoTermination

        pop_size = int(self.options["pop_size"])
        if pop_size < 2:
            raise ConfigError(f"search.options.pop_size must be >= 2, got {pop_size}")
        self.vars = space.pymoo_vars()
        self.problem = Problem(vars=self.vars, n_obj=len(objective.metrics), n_ieq_constr=1)
        self.algorithm = self.make_algorithm(pop_size, self.options["n_offsprings"])
        self.algorithm.setup(self.problem, termination=NoTermination(), seed=self.seed)
        self.batch = None  # the generation being evaluated (a pymoo Population)
        self.queue: list[int] = []  # its individuals not handed out yet
        self.in_flight: dict[tuple, int] = {}  # params key -> index in batch
        self.results: dict[int, tuple[list[float], float]] = {}  # index -> (F, G)
        self.cache: dict[tuple, tuple[list[float], float]] = {}
        self.worst: np.ndarray | None = None  # worst feasible F, stands in for failures
        self.generations = 0
        self.cache_hits = 0

    def make_algorithm(self, pop_size: int, n_offsprings: int | None):
        raise NotImplementedError

    @staticmethod
    def mixed_operators() -> dict[str, Any]:
        from pymoo.core.mixed import (
            MixedVariableDuplicateElimination,
            MixedVariableMating,
            MixedVariableSampling,
        )

        return {
            "sampling": MixedVariableSampling(),
            "mating": MixedVariableMating(eliminate_duplicates=MixedVariableDuplicateElimination()),
            "eliminate_duplicates": MixedVariableDuplicateElimination(),
        }

    # -- ask/tell ----------------------------------------------------------------------------
    def _params(self, x: dict[str, Any]) -> dict[str, Any]:
        return {n: from_pymoo(self.encoding.params[n], x[n]) for n in self.encoding.names}

    def _ask_impl(self) -> dict[str, Any] | None:
        for _ in range(100):  # a few generations may be answered wholly from the cache
            if self.batch is None:
                self._next_generation()
            while self.queue:
                i = self.queue.pop(0)
                params = self._params(self.batch[i].X)
                key = self.encoding.key(params)
                if key in self.cache:
                    self.results[i] = self.cache[key]
                    self.cache_hits += 1
                    continue
                if key in self.in_flight:  # the same assignment twice in one generation
                    self.queue.append(i)
                    return None
                self.in_flight[key] = i
                return params
            if len(self.results) < len(self.batch):
                return None  # wait for the running individuals of this generation
            self._tell_generation()
        return None

    def _tell_impl(self, suggestion_id, params, metrics, values) -> None:
        key = self.encoding.key(params)
        i = self.in_flight.pop(key, None)
        over = self.violation(metrics)
        if values is None:
            res = (None, over if over > 0 else 1.0)
            if over > 0:  # over the budget, not failed: no need to ask for it again
                self.cache[key] = res
        else:
            res = (list(values), over)
            self.cache[key] = res
            v = np.asarray(values, dtype=float)
            self.worst = v if self.worst is None else np.maximum(self.worst, v)
        if i is not None:
            self.results[i] = res
        if self.batch is not None and not self.queue and len(self.results) == len(self.batch):
            self._tell_generation()  # the generation is complete: pymoo hears of it now

    def _next_generation(self) -> None:
        pop = self.algorithm.ask()
        if pop is None or len(pop) == 0:
            # mating found no new offspring (small space): restart from fresh samples
            self.algorithm.termination.force_termination = False
            pop = self.mixed_operators()["sampling"](
                self.problem, self.algorithm.pop_size, random_state=self.algorithm.random_state
            )
        self.batch = pop
        self.queue = list(range(len(pop)))
        self.results = {}

    def _tell_generation(self) -> None:
        from pymoo.core.evaluator import Evaluator
        from pymoo.problems.static import StaticProblem

        n_obj = self.problem.n_obj
        fill = self.worst if self.worst is not None else np.zeros(n_obj)
        F = np.array(
            [
                self.results[i][0] if self.results[i][0] is not None else fill
                for i in range(len(self.batch))
            ],
            dtype=float,
        ).reshape(len(self.batch), n_obj)
        G = np.array([[self.results[i][1]] for i in range(len(self.batch))], dtype=float)
        Evaluator().eval(StaticProblem(self.problem, F=F, G=G), self.batch)
        self.algorithm.tell(infills=self.batch)
        self.generations += 1
        self.batch = None

    def summary(self) -> dict[str, Any]:
        return {
            "generations": self.generations,
            "evaluated": len(self.cache),
            "answered_from_cache": self.cache_hits,
        }


@register_searcher(
    "pymoo-nsga2",
    description="pymoo NSGA-II over mixed integer/categorical variables",
    constraints="native",
)
class PymooNSGA2(PymooSearcher):
    def make_algorithm(self, pop_size, n_offsprings):
        from pymoo.algorithms.moo.nsga2 import NSGA2

        kw = {"n_offsprings": int(n_offsprings)} if n_offsprings else {}
        return NSGA2(pop_size=pop_size, **self.mixed_operators(), **kw)


@register_searcher(
    "pymoo-smsemoa",
    single=False,
    description="pymoo SMS-EMOA (hypervolume survival) over mixed variables; multi-objective",
    constraints="native",
)
class PymooSMSEMOA(PymooSearcher):
    def make_algorithm(self, pop_size, n_offsprings):
        from pymoo.algorithms.moo.sms import SMSEMOA

        kw = {"n_offsprings": int(n_offsprings)} if n_offsprings else {}
        return SMSEMOA(pop_size=pop_size, **self.mixed_operators(), **kw)
