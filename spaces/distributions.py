"""Declared distributions of a search space, and the one place they become other forms.

Three kinds cover the published spaces: a categorical choice (unordered), an integer range
with a step, and an ordinal choice (ordered numbers such as widths or resolutions). Each
converts to Ray Tune's ``param_space`` entries, to Optuna distributions and to pymoo
variables here, so that no searcher writes its own conversion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from accelsearch.core.errors import ConfigError
from accelsearch.spaces.constraints import describe_params, value_text

Value = Union[int, float, str, bool]


@dataclass(frozen=True)
class Categorical:
    """An unordered choice among ``choices`` (strings, numbers, booleans)."""

    choices: tuple[Value, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise ConfigError("Categorical needs at least one choice")

    def values(self) -> tuple[Value, ...]:
        return self.choices


@dataclass(frozen=True)
class IntRange:
    """Integers ``low, low+step, ..., high`` (``high`` included)."""

    low: int
    high: int
    step: int = 1

    def __post_init__(self) -> None:
        if self.step < 1 or self.high < self.low or (self.high - self.low) % self.step:
            raise ConfigError(
                f"IntRange(low={self.low}, high={self.high}, step={self.step}) is empty or "
                "high is not reachable from low in steps; use high = low + k*step"
            )

    def values(self) -> tuple[int, ...]:
        return tuple(range(self.low, self.high + 1, self.step))


@dataclass(frozen=True)
class Ordinal:
    """An ordered choice among numbers (widths, resolutions, multipliers)."""

    choices: tuple[float, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "choices", tuple(self.choices))
        if not self.choices:
            raise ConfigError("Ordinal needs at least one value")
        if list(self.choices) != sorted(self.choices):
            raise ConfigError(f"Ordinal values must be ascending, got {list(self.choices)}")

    def values(self) -> tuple[float, ...]:
        return self.choices


Distribution = Union[Categorical, IntRange, Ordinal]


def cardinality(dist: Distribution) -> int:
    return len(dist.values())


def contains(dist: Distribution, value: Any) -> bool:
    return value in dist.values()


def sample(dist: Distribution, rng: np.random.Generator) -> Value:
    vals = dist.values()
    return _plain(vals[int(rng.integers(len(vals)))])


def index_of(dist: Distribution, value: Any) -> int:
    return list(dist.values()).index(value)


def from_unit(dist: Distribution, u: float) -> Value:
    """Map ``u`` in [0, 1) to a value (Sobol and other unit-cube samplers)."""
    vals = dist.values()
    return _plain(vals[min(len(vals) - 1, int(math.floor(u * len(vals))))])


def _plain(v: Any) -> Value:
    if isinstance(v, np.generic):
        return v.item()
    return v


# -- conversions ----------------------------------------------------------------------------
def to_tune(dist: Distribution):
    """Ray Tune sampling domain (for Tune's own search algorithms)."""
    from ray import tune

    return tune.choice(list(dist.values()))


def to_optuna(dist: Distribution):
    """Optuna distribution: ranges stay integer ranges so TPE/GP see the order."""
    import optuna

    if isinstance(dist, IntRange):
        return optuna.distributions.IntDistribution(dist.low, dist.high, step=dist.step)
    return optuna.distributions.CategoricalDistribution(list(dist.values()))


def to_pymoo(dist: Distribution):
    """pymoo variable: ``Integer`` over indices for ordered kinds, ``Choice`` otherwise."""
    from pymoo.core.variable import Choice, Integer

    if isinstance(dist, Categorical):
        return Choice(options=list(dist.values()))
    return Integer(bounds=(0, cardinality(dist) - 1))


def from_pymoo(dist: Distribution, x: Any) -> Value:
    """Inverse of :func:`to_pymoo` for one variable's value."""
    if isinstance(dist, Categorical):
        return _plain(x)
    return _plain(dist.values()[int(round(float(x)))])


def convert_all(params: dict[str, Distribution], fn) -> dict[str, Any]:
    return {name: fn(d) for name, d in params.items()}


def check_params(declared: dict[str, Distribution], params: dict[str, Any], space: str) -> None:
    """Raise a clear error for missing, unknown or out-of-range parameters."""
    missing = sorted(set(declared) - set(params))
    unknown = sorted(set(params) - set(declared))
    if missing or unknown:
        raise ConfigError(
            f"parameters for space {space!r} do not match its declaration: "
            f"missing {missing}, unknown {unknown}"
        )
    for name, dist in declared.items():
        if not contains(dist, params[name]):
            raise ConfigError(
                f"parameter {name!r} ({describe_params(name)}) of space {space!r} is "
                f"{params[name]!r}; valid values: {value_text(dist.values())}"
            )


def log10_size(dists: Sequence[Distribution]) -> float:
    return float(sum(math.log10(cardinality(d)) for d in dists))
