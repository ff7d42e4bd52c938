"""Search strategies by name: each makes the Ray Tune search algorithm for a space.

A strategy factory takes ``(space, objective, seed, options)`` and returns
``(search_alg, param_space)``: ``search_alg`` is a Ray Tune ``Searcher`` (or ``None`` for
Tune's own random sampling over ``param_space``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from accelsearch.errors import ConfigError
from accelsearch.registry import Registry


@dataclass(frozen=True)
class Objective:
    """What a strategy optimises: one metric (``reward``) or several (Pareto)."""

    metrics: tuple[str, ...] = ("reward",)
    modes: tuple[str, ...] = ("max",)

    @property
    def multi(self) -> bool:
        return len(self.metrics) > 1

    def tune_metric(self):
        return list(self.metrics) if self.multi else self.metrics[0]

    def tune_mode(self):
        return list(self.modes) if self.multi else self.modes[0]


@dataclass(frozen=True)
class Strategy:
    name: str
    factory: Callable[..., tuple[Any, dict[str, Any]]]
    supports_multi: bool
    supports_single: bool = True
    description: str = ""


STRATEGIES: Registry[Strategy] = Registry("search strategy")


def register_strategy(
    name: str, *, multi: bool = False, single: bool = True, description: str = ""
):
    def deco(fn):
        STRATEGIES.add(name, Strategy(name, fn, multi, single, description))
        return fn

    return deco


def make(name: str, space, objective: Objective, seed: int, options: dict[str, Any]):
    strat = STRATEGIES.get(name)
    if objective.multi and not strat.supports_multi:
        raise ConfigError(
            f"search strategy {name!r} optimises one metric but {len(objective.metrics)} were "
            f"given ({', '.join(objective.metrics)}); use a multi-objective strategy"
        )
    if not objective.multi and not strat.supports_single:
        raise ConfigError(f"search strategy {name!r} is multi-objective; give it several metrics")
    return strat.factory(space, objective, seed, dict(options))


def _optuna(sampler_factory):
    def factory(space, objective: Objective, seed: int, options: dict[str, Any]):
        from ray.tune.search.optuna import OptunaSearch

        sampler = sampler_factory(seed, objective, options)
        alg = OptunaSearch(
            space=space.optuna_space(),
            metric=objective.tune_metric(),
            mode=objective.tune_mode(),
            sampler=sampler,
        )
        return alg, {}

    return factory


def _tpe(seed: int, objective: Objective, options: dict[str, Any]):
    import optuna

    return optuna.samplers.TPESampler(
        seed=seed,
        n_startup_trials=int(options.pop("n_startup_trials", 4)),
        multivariate=bool(options.pop("multivariate", True)),
        **options,
    )


register_strategy(
    "optuna-tpe", multi=True, description="Optuna's TPE sampler through Ray Tune's OptunaSearch"
)(_optuna(_tpe))


@register_strategy("random", multi=True, description="uniform random sampling (Ray Tune)")
def _random(space, objective: Objective, seed: int, options: dict[str, Any]):
    from ray.tune.search import BasicVariantGenerator

    return BasicVariantGenerator(random_state=seed), space.tune_space()


def names() -> list[str]:
    return STRATEGIES.names()
