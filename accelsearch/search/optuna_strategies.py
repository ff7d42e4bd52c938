"""Optuna samplers through Ray Tune's ``OptunaSearch``: TPE, NSGA-II, NSGA-III and GP.

Each strategy is one sampler; ``search.options`` (besides ``objectives``) are passed to the
sampler's constructor, checked against its signature. Single-objective runs optimise the
first objective (default ``reward``); multi-objective runs give Optuna several directions
(TPE, NSGA-II, NSGA-III and GP all handle Pareto fronts; NSGA-III needs at least two
objectives). The GP sampler needs ``scipy`` and ``torch`` (both are dependencies here).
"""

from __future__ import annotations

import inspect
import threading
import warnings
from typing import Any

from accelsearch.core.errors import ConfigError, choices_text
from accelsearch.core.kinds import check_options
from accelsearch.search.budget import constraints_from_user_attrs
from accelsearch.search.encoding import declared_params
from accelsearch.search.strategy import Objective, register_strategy

#: name -> (optuna sampler class name, our defaults, supports single, description)
SAMPLERS: dict[str, tuple[str, dict[str, Any], bool, str]] = {
    "optuna-tpe": (
        "TPESampler",
        {"n_startup_trials": 4, "multivariate": True},
        True,
        "Optuna's tree-structured Parzen estimator (single and multi-objective)",
    ),
    "optuna-nsga2": (
        "NSGAIISampler",
        {"population_size": 20},
        True,
        "Optuna's NSGA-II genetic algorithm",
    ),
    "optuna-nsga3": (
        "NSGAIIISampler",
        {"population_size": 20},
        False,
        "Optuna's NSGA-III (reference-point) genetic algorithm; multi-objective only",
    ),
    "optuna-gp": (
        "GPSampler",
        {"n_startup_trials": 8},
        True,
        "Optuna's Gaussian-process Bayesian optimisation (logEI / logEHVI)",
    ),
}


class _FreshLockOnUnpickle:
    """Mixin for Optuna's samplers: a sampler that holds a ``threading.Lock`` in
    ``_thread_lock`` (Optuna 5.1's genetic samplers, NSGA-II and NSGA-III) pickles without it
    and gets a new one when unpickled. Pickle refuses a lock, and Ray Tune pickles the
    searcher with its sampler when the Tuner starts and in every experiment snapshot (resume).
    Samplers without a lock pickle exactly as before."""

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        if "_thread_lock" in state:
            state["_thread_lock"] = None  # made again by __setstate__
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_thread_lock" in state:
            self._thread_lock = threading.Lock()


_PICKLABLE: dict[str, type] = {}


def _picklable_class(cls_name: str) -> type:
    """``Picklable<cls_name>``: Optuna's sampler class with :class:`_FreshLockOnUnpickle`,
    made once and findable as an attribute of this module (see ``__getattr__``), so pickle
    stores it by reference and a fresh process finds it again."""
    import optuna

    if cls_name not in _PICKLABLE:
        qualname = f"Picklable{cls_name}"
        base = getattr(optuna.samplers, cls_name)
        _PICKLABLE[cls_name] = type(
            qualname,
            (_FreshLockOnUnpickle, base),
            {"__module__": __name__, "__qualname__": qualname},
        )
    return _PICKLABLE[cls_name]


def __getattr__(name: str) -> type:  # PEP 562: unpickling Picklable<Sampler> in a new process
    base = name.removeprefix("Picklable")
    if base != name and base in {s[0] for s in SAMPLERS.values()}:
        return _picklable_class(base)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def make_sampler(name: str, seed: int, options: dict[str, Any], constrained: bool = False):
    """The Optuna sampler of strategy ``name`` with ``options`` (checked).

    ``constrained``: trials will carry constraint values. Optuna 5 reads them from the trial
    (``Trial.set_constraint``); Optuna 4.x needs a ``constraints_func``, given here."""
    import optuna

    cls_name, defaults, _, _ = SAMPLERS[name]
    owner = f"Optuna's {cls_name} (strategy {name!r})"
    sampler_init = getattr(optuna.samplers, cls_name).__init__
    check_options(sampler_init, options, "search.options", ("seed",), owner)
    cls = _picklable_class(cls_name)
    valid = [p for p in inspect.signature(cls.__init__).parameters if p not in ("self", "seed")]
    kwargs = {**defaults, **options}
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ConfigError(
            f"search.options has {unknown} which Optuna's {cls_name} (strategy {name!r}) does "
            f"not take; valid options: {choices_text(valid)}"
        )
    if constrained and "constraints_func" in kwargs:
        raise ConfigError(
            f"search.options.constraints_func cannot be combined with a search budget "
            f"(strategy {name!r} gets the budget's constraints itself); drop the option"
        )
    if constrained and not hasattr(optuna.trial.Trial, "set_constraint"):
        kwargs["constraints_func"] = constraints_from_user_attrs
    try:
        with warnings.catch_warnings():  # NSGA-III and others are marked experimental
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return cls(seed=seed, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"search.options for strategy {name!r}: {exc}") from None


def _register(name: str) -> None:
    _, _, single, description = SAMPLERS[name]

    def validator(space, objective: Objective, seed: int, options: dict[str, Any], budget=None):
        declared_params(space)
        space.optuna_space()
        return make_sampler(name, seed, options, constrained=budget is not None)

    @register_strategy(
        name,
        multi=True,
        single=single,
        description=description,
        validator=validator,
        constraints="native",
    )
    def factory(space, objective: Objective, seed: int, options: dict[str, Any], budget=None):
        # heavy (Ray Tune): imported when a search starts, as in strategy.register_searcher
        from accelsearch.search.tune_adapter import FailureAwareOptunaSearch

        return (
            FailureAwareOptunaSearch(
                space=space.optuna_space(),
                metric=objective.tune_metric(),
                mode=objective.tune_mode(),
                sampler=make_sampler(name, seed, options, constrained=budget is not None),
                budget=budget,
            ),
            {},
        )


for _name in SAMPLERS:
    _register(_name)
