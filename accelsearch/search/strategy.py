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
cannot search) raises :class:`~accelsearch.errors.ConfigError` from :func:`validate` /
:func:`make`, before Ray starts or any trial runs.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accelsearch.errors import ConfigError, choices_text, short_repr
from accelsearch.registry import Registry

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


STRATEGIES: Registry[Strategy] = Registry("search strategy")


def register_strategy(
    name: str,
    *,
    multi: bool = False,
    single: bool = True,
    description: str = "",
    validator: Callable[..., Any] | None = None,
):
    """Decorator for a factory ``(space, objective, seed, options) -> (search_alg, param_space)``."""

    def deco(fn):
        STRATEGIES.add(name, Strategy(name, fn, multi, single, description, validator))
        return fn

    return deco


def register_searcher(name: str, *, multi: bool = True, single: bool = True, description: str = ""):
    """Class decorator for an ask/tell :class:`~accelsearch.search.searcher.Searcher`."""

    def deco(cls):
        def build(space, objective, seed, options):
            return cls(space, objective, seed, **options)

        def factory(space, objective, seed, options):
            from accelsearch.search.tune_adapter import TuneSearcher

            return TuneSearcher(build(space, objective, seed, options), objective), {}

        STRATEGIES.add(
            name,
            Strategy(name, factory, multi, single, description or _first_line(cls), build),
        )
        cls.strategy_name = name
        return cls

    return deco


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


def validate(name: str, space, objective: Objective, seed: int, options: dict[str, Any]):
    """Check a strategy against a space and objective without starting Ray.

    Returns what the strategy's validator built (its ask/tell searcher), or ``None``.
    """
    from accelsearch.search.encoding import declared_params

    strat = STRATEGIES.get(name)
    _check_arity(strat, objective)
    declared_params(space)
    if strat.validator is not None:
        return strat.validator(space, objective, seed, dict(options))
    return None


def make(name: str, space, objective: Objective, seed: int, options: dict[str, Any]):
    """``(search_alg, param_space)`` for Ray Tune; every check of :func:`validate` first."""
    validate(name, space, objective, seed, options)
    return STRATEGIES.get(name).factory(space, objective, seed, dict(options))


def names() -> list[str]:
    return STRATEGIES.names()


def multi_strategies() -> list[str]:
    return [n for n in STRATEGIES.names() if STRATEGIES.get(n).supports_multi]


def single_strategies() -> list[str]:
    return [n for n in STRATEGIES.names() if STRATEGIES.get(n).supports_single]


# Built-in strategies register themselves on import; modules that are not there (a strategy
# living on another branch) are skipped. None of them imports Ray at import time.
_BUILTIN_MODULES = (
    "optuna_strategies",
    "sampling",
    "pymoo_strategies",
    "stratified",
    "llr",
    "utilization_filter",
)


def _load_builtins() -> None:
    for mod in _BUILTIN_MODULES:
        full = f"accelsearch.search.{mod}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise


_load_builtins()
