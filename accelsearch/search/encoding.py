"""A space's parameters as index vectors and unit-cube points (the searchers' common view).

Every declared distribution is finite (categorical, integer range, ordinal), so a parameter
assignment is a vector of value indices. Sobol and random sampling map points of the unit
cube to indices; LLR steps indices of ordered parameters; keys make assignments hashable
for de-duplication and evaluation caches.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accelsearch.core.errors import ConfigError
from accelsearch.spaces import distributions as D

KINDS_TEXT = "Categorical, IntRange or Ordinal (accelsearch.spaces.distributions)"


def declared_params(space) -> dict[str, Any]:
    """``space.params()``, checked: every parameter must be a finite accelsearch distribution.

    Raised before any trial runs, so that a space which declares, say, a Ray Tune domain or
    an Optuna float distribution gets a message naming the parameter and the fix.
    """

    params = space.params()
    if not isinstance(params, dict) or not params:
        raise ConfigError(
            f"space {getattr(space, 'name', space)!r}: params() must return a non-empty dict "
            f"of distributions, got {params!r}"
        )
    for name, dist in params.items():
        if not isinstance(dist, (D.Categorical, D.IntRange, D.Ordinal)):
            raise ConfigError(
                f"parameter {name!r} of space {getattr(space, 'name', '') or type(space).__name__!r} "
                f"is a {type(dist).__name__}; search strategies need a {KINDS_TEXT} - declare "
                "continuous values as an Ordinal of the values worth trying"
            )
    return params


class Encoding:
    """Index-vector view of a space's declared parameters (in declaration order)."""

    def __init__(self, space) -> None:
        self.params = declared_params(space)
        self.names = list(self.params)
        self.dists = [self.params[n] for n in self.names]
        self.values = [list(d.values()) for d in self.dists]
        self.cardinalities = np.array([len(v) for v in self.values], dtype=np.int64)
        self.ordered = [not isinstance(d, D.Categorical) for d in self.dists]

    @property
    def dim(self) -> int:
        return len(self.names)

    def size(self) -> float:
        return float(np.prod(self.cardinalities.astype(float)))

    def to_indices(self, params: dict[str, Any]) -> np.ndarray:
        try:
            return np.array(
                [vals.index(params[n]) for n, vals in zip(self.names, self.values)], dtype=np.int64
            )
        except (KeyError, ValueError) as exc:
            raise ConfigError(
                f"parameters {params!r} are not a point of the space: {exc}"
            ) from None

    def from_indices(self, idx) -> dict[str, Any]:
        out = {}
        for n, vals, i in zip(self.names, self.values, idx):
            v = vals[int(i)]
            out[n] = v.item() if isinstance(v, np.generic) else v
        return out

    def unit_to_indices(self, u: np.ndarray) -> np.ndarray:
        """Points of [0, 1)^d to index vectors (row-wise)."""
        u = np.atleast_2d(np.asarray(u, dtype=float))
        idx = np.floor(u * self.cardinalities).astype(np.int64)
        return np.minimum(idx, self.cardinalities - 1)

    def from_unit(self, u) -> dict[str, Any]:
        return self.from_indices(self.unit_to_indices(u)[0])

    def random_indices(self, rng: np.random.Generator, n: int = 1) -> np.ndarray:
        return rng.integers(0, self.cardinalities, size=(n, self.dim))

    def key(self, params: dict[str, Any]) -> tuple:
        """Hashable identity of an assignment (declaration order)."""
        return tuple(_hashable(params.get(n)) for n in self.names)


def _hashable(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, list):
        return tuple(v)
    return v
