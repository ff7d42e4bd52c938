"""Search strategies by name: each makes the Ray Tune search algorithm for a space.

A strategy factory takes ``(space, objective, seed, options)`` and returns
``(search_alg, param_space)``: ``search_alg`` is a Ray Tune ``Searcher`` (or ``None`` for
Tune's own random sampling over ``param_space``). Register one with
``@register_strategy(name, multi=..., single=...)``; an ask/tell
:class:`~accelsearch.search.searcher.Searcher` subclass registers with
``@register_searcher(name, ...)`` and is driven through
:class:`~accelsearch.search.tune_adapter.TuneSearcher`.

Everything about a strategy that can be wrong (unknown name, one metric for a Pareto
strategy or several for a scalar one, an unknown metric or option, a space the strategy
cannot search, a budget it cannot take) raises :class:`~accelsearch.errors.ConfigError`
from :func:`validate` / :func:`make`, before Ray starts or any trial runs.

A strategy says how it takes a :class:`~accelsearch.search.budget.Budget` (``constraints=``,
see :data:`~accelsearch.search.budget.CONSTRAINT_KINDS`): ``native`` factories and
validators get it as ``budget=``, ask/tell searchers through
:meth:`~accelsearch.search.searcher.Searcher.set_budget`; ``screen`` strategies never see it
(the screen keeps them under it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accelsearch.core.errors import ConfigError, choices_text, short_repr
from accelsearch.core.registry import Registry
from accelsearch.search.budget import CONSTRAINT_KINDS, Budget
from accelsearch.search.encoding import declared_params

#: metrics a trial reports that a strategy may optimise, and their direction
METRIC_MODES: dict[str, str] = {
    "accuracy": "max",
    "reward": "max",
    "latency_ms": "min",
    "params_m": "min",
    "gflops": "min",
    "gmacs": "min",
    "intensity": "max",
    "utilisation": "max",
}


@dataclass(frozen=True)
class Objective:
    """What a strategy optimises: one metric (``reward``) or several (Pareto)."""

    metrics: tuple[str, ...] = ("reward",)
    modes: tuple[str, ...] = ("max",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "modes", tuple(self.modes))
        if not self.metrics or len(self.metrics) != len(self.modes):
            raise ConfigError(
                f"an objective needs one mode per metric, got metrics {list(self.metrics)} "
                f"and modes {list(self.modes)}"
            )
        bad = [m for m in self.modes if m not in ("max", "min")]
        if bad:
            raise ConfigError(f"objective modes must be 'max' or 'min', got {bad}")
        if len(set(self.metrics)) != len(self.metrics):
            raise ConfigError(f"objective metrics repeat a name: {list(self.metrics)}")

    @classmethod
    def of(cls, *metrics: str) -> Objective:
        """Objective over known metrics with their natural directions."""
        if not all(isinstance(m, str) for m in metrics):
            raise ConfigError(
                f"search.options.objectives must be a list of metric names such as "
                f"[accuracy, latency_ms], got {short_repr(list(metrics))}"
            )
        unknown = [m for m in metrics if m not in METRIC_MODES]
        if unknown:
            raise ConfigError(
                f"search.options.objectives has unknown metric(s) {unknown}; valid choices: "
                f"{choices_text(METRIC_MODES)}"
            )
        return cls(tuple(metrics), tuple(METRIC_MODES[m] for m in metrics))

    @property
    def multi(self) -> bool:
        return len(self.metrics) > 1

    def tune_metric(self):
        return list(self.metrics) if self.multi else self.metrics[0]

    def tune_mode(self):
        return list(self.modes) if self.multi else self.modes[0]

    def values(self, metrics: dict[str, Any] | None) -> tuple[float, ...] | None:
        """The objectives as numbers to minimise (maximised ones negated); ``None`` when a
        metric is missing or not finite (the trial failed)."""
        if not metrics:
            return None
        out = []
        for m, mode in zip(self.metrics, self.modes):
            v = metrics.get(m)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                return None
            out.append(-float(v) if mode == "max" else float(v))
        return tuple(out)


def objective_from_options(options: dict[str, Any]) -> Objective:
    """``search.options.objectives`` (default ``[reward]``) as an :class:`Objective`."""
    metrics = options.get("objectives", ["reward"])
    if isinstance(metrics, str):
        metrics = [metrics]
    if not isinstance(metrics, (list, tuple)) or not metrics:
        raise ConfigError(
            f"search.options.objectives must be a list of metric names such as "
            f"[accuracy, latency_ms], got {short_repr(metrics)}"
        )
    return Objective.of(*metrics)


def strategy_options(options: dict[str, Any]) -> dict[str, Any]:
    """``search.options`` without the keys the driver consumes."""
    return {k: v for k, v in options.items() if k != "objectives"}


@dataclass(frozen=True)
class Strategy:
    name: str
    factory: Callable[..., tuple[Any, dict[str, Any]]]
    supports_multi: bool
    supports_single: bool = True
    description: str = ""
    #: builds what the strategy needs without Ray (checks options and space); optional
    validator: Callable[..., Any] | None = None
    #: how it takes a budget: native, own or screen (``budget.CONSTRAINT_KINDS``)
    constraints: str = "screen"


STRATEGIES: Registry[Strategy] = Registry("search strategy")


def register_strategy(
    name: str,
    *,
    multi: bool = False,
    single: bool = True,
    description: str = "",
    validator: Callable[..., Any] | None = None,
    constraints: str = "screen",
):
    """Decorator for a factory ``(space, objective, seed, options) -> (search_alg, param_space)``.

    ``constraints="native"``: the factory and the validator also take ``budget=`` (a
    :class:`~accelsearch.search.budget.Budget` or ``None``)."""
    _check_kind(name, constraints)

    def deco(fn):
        STRATEGIES.add(name, Strategy(name, fn, multi, single, description, validator, constraints))
        return fn

    return deco


def register_searcher(
    name: str,
    *,
    multi: bool = True,
    single: bool = True,
    description: str = "",
    constraints: str = "screen",
):
    """Class decorator for an ask/tell :class:`~accelsearch.search.searcher.Searcher`; with
    ``constraints="native"`` or ``"own"`` the budget reaches it through ``set_budget``."""
    _check_kind(name, constraints)

    def deco(cls):
        def build(space, objective, seed, options, budget=None):
            searcher = cls(space, objective, seed, **options)
            if budget is not None:
                searcher.set_budget(budget)
            return searcher

        def factory(space, objective, seed, options, budget=None):
            # heavy (Ray Tune): imported when a search starts, so that choosing and checking
            # a strategy (a recipe's validation) does not load Ray
            from accelsearch.search.tune_adapter import TuneSearcher

            return TuneSearcher(build(space, objective, seed, options, budget), objective), {}

        STRATEGIES.add(
            name,
            Strategy(
                name,
                factory,
                multi,
                single,
                description or _first_line(cls),
                build,
                constraints,
            ),
        )
        cls.strategy_name = name
        return cls

    return deco


def _check_kind(name: str, kind: str) -> None:
    if kind not in CONSTRAINT_KINDS:
        raise ConfigError(
            f"strategy {name!r}: constraints={kind!r}; valid: {choices_text(CONSTRAINT_KINDS)}"
        )


def _first_line(obj) -> str:
    return (obj.__doc__ or "").strip().splitlines()[0] if obj.__doc__ else ""


def _check_arity(strat: Strategy, objective: Objective) -> None:
    if objective.multi and not strat.supports_multi:
        raise ConfigError(
            f"search strategy {strat.name!r} optimises one metric but {len(objective.metrics)} "
            f"were given in search.options.objectives ({', '.join(objective.metrics)}); give one "
            f"metric, or use a multi-objective strategy: {choices_text(multi_strategies())}"
        )
    if not objective.multi and not strat.supports_single:
        raise ConfigError(
            f"search strategy {strat.name!r} is multi-objective but one metric was given "
            f"({objective.metrics[0]}); set search.options.objectives to several metrics, e.g. "
            f"[accuracy, latency_ms], or use a single-objective strategy: "
            f"{choices_text(single_strategies())}"
        )


def check_budget(name: str, budget: Budget | None, screen: bool = True) -> None:
    """A budget given to a strategy that cannot take it fails here, before any trial: a
    ``screen`` strategy needs the screen on (it is what keeps such a strategy under the
    budget)."""
    if budget is None:
        return
    kind = STRATEGIES.get(name).constraints
    if kind == "screen" and not screen:
        native = [n for n in STRATEGIES.names() if STRATEGIES.get(n).constraints == "native"]
        raise ConfigError(
            f"search strategy {name!r} cannot take constraints ({budget.describe()}) and "
            "search.screen.enabled is false, so nothing would keep it under the budget; turn "
            "the screen on (it rejects over-budget candidates for this strategy), or use a "
            f"strategy that takes constraints: {choices_text(native)}"
        )


def _budget_kwargs(strat: Strategy, budget: Budget | None) -> dict[str, Any]:
    """``{"budget": budget}`` for strategies that take one themselves, else nothing."""
    if budget is None or strat.constraints == "screen":
        return {}
    return {"budget": budget}


def validate(
    name: str,
    space,
    objective: Objective,
    seed: int,
    options: dict[str, Any],
    budget: Budget | None = None,
    screen: bool = True,
):
    """Check a strategy against a space, objective and budget without starting Ray.

    Returns what the strategy's validator built (its ask/tell searcher), or ``None``.
    """

    strat = STRATEGIES.get(name)
    _check_arity(strat, objective)
    check_budget(name, budget, screen)
    declared_params(space)
    if strat.validator is not None:
        return strat.validator(
            space, objective, seed, dict(options), **_budget_kwargs(strat, budget)
        )
    return None


def make(
    name: str,
    space,
    objective: Objective,
    seed: int,
    options: dict[str, Any],
    budget: Budget | None = None,
    screen: bool = True,
):
    """``(search_alg, param_space)`` for Ray Tune; every check of :func:`validate` first.

    With a ``budget``, a strategy that takes constraints gets it; a ``screen`` strategy does
    not (wrap its search algorithm in :class:`~accelsearch.search.screen.ScreenedSearch`).
    """
    validate(name, space, objective, seed, options, budget, screen)
    strat = STRATEGIES.get(name)
    return strat.factory(space, objective, seed, dict(options), **_budget_kwargs(strat, budget))


def names() -> list[str]:
    return STRATEGIES.names()


def multi_strategies() -> list[str]:
    return [n for n in STRATEGIES.names() if STRATEGIES.get(n).supports_multi]


def single_strategies() -> list[str]:
    return [n for n in STRATEGIES.names() if STRATEGIES.get(n).supports_single]


# The built-in strategies register themselves when their modules are imported; importing them
# here, once STRATEGIES and the decorators exist, makes every built-in known wherever
# STRATEGIES is read (a plug-in strategy registers itself the same way when its module is
# imported). None of them imports Ray at import time.
from accelsearch.search import (  # noqa: E402, F401 - imported to register
    llr,
    optuna_strategies,
    pool_bo,
    pymoo_strategies,
    sampling,
    strategy_auto,
    stratified,
    utilization_filter,
)
