"""The fast path of :meth:`LUTPredictor.predict_many`: a space's layer-sum terms, summed
per sample with NumPy.

A space that provides the :meth:`~accelsearch.spaces.base.SearchSpace.lut_terms` hook splits
its layer sum into terms that each depend on a few parameters
(:mod:`accelsearch.spaces.layer_terms`). Here each term's distinct combinations of values
in a value-index matrix are decoded once (and memoised across calls), the layers they name
are looked up, and each sample's total is a gather-and-add, so a million Sobol samples take
seconds on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import accelsearch.spaces as spaces
from accelsearch.objectives.latency.layers import LayerKey, arch_layers, stage_layers_of
from accelsearch.spaces.base import SearchSpace
from accelsearch.spaces.layer_terms import LayerRef, Term

#: (key, weight of the first block, weight of each repeated block)
Weighted = tuple[LayerKey, float, float]


class _SpacesWithFastPath:
    """Names of the registered spaces that provide the ``lut_terms`` hook (read-only)."""

    def names(self) -> list[str]:
        return [name for name in spaces.SPACES.names() if name in self]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or name not in spaces.SPACES:
            return False
        return spaces.SPACES.get(name).lut_terms is not SearchSpace.lut_terms

    def __iter__(self):
        return iter(self.names())


#: the spaces with a fast path (``"gpunet" in FAST_PATHS``); a space gains one by defining
#: its ``lut_terms`` hook
FAST_PATHS = _SpacesWithFastPath()


def register_fast_path(space_name: str):
    """Decorator giving the registered space ``space_name`` a fast path from a function
    ``fn(space) -> list[Term]`` (for a space whose class you cannot edit; a space of your
    own defines ``lut_terms`` instead)."""

    def deco(fn: Callable[[SearchSpace], list[Term]]):
        spaces.SPACES.get(space_name).lut_terms = fn
        return fn

    return deco


def layer_keys(ref: LayerRef, num_classes: int) -> list[LayerKey]:
    """The table keys of the layers ``ref`` names."""
    arch = ref.arch
    if ref.stage == len(arch.stages):
        keys = [arch_layers(arch, num_classes)[-1].key]
    else:
        keys = stage_layers_of(arch, ref.stage)
    return keys if ref.block is None else [keys[ref.block]]


def plain(v: Any) -> Any:
    """A NumPy scalar as the Python value a space's decode expects."""
    return v.item() if isinstance(v, np.generic) else v


def digits(code: int, radices: list[int]) -> list[int]:
    """Mixed-radix digits of ``code`` (most significant first)."""
    out = []
    for r in reversed(radices):
        out.append(code % r)
        code //= r
    return out[::-1]


def value_array(vals: Sequence[Any]) -> np.ndarray:
    """Declared values as an array (numeric where they are numbers, objects otherwise)."""
    if all(isinstance(v, (int, float, np.number)) and not isinstance(v, bool) for v in vals):
        return np.asarray(vals, dtype=float)
    return np.asarray(vals, dtype=object)


@dataclass
class _Plan:
    """One term over a matrix: its decoded combinations, which one each sample uses, and
    the depth column that scales it (None: not scaled)."""

    combos: list[list[Weighted]]
    inverse: np.ndarray
    scale: np.ndarray | None


class TermSum:
    """Layer sums of a space's points from its terms (see the module docstring).

    ``memo`` maps (space id, term index, combination) to the term's weighted layers; the
    predictor keeps it so that repeated calls decode nothing.
    """

    def __init__(self, space, terms: list[Term], num_classes: int, memo: dict) -> None:
        self.space_id = id(space)
        self.terms = terms
        self.num_classes = num_classes
        self.memo = memo
        declared = space.params()
        self.names = list(declared)
        self.values = [[plain(v) for v in d.values()] for d in declared.values()]

    def plan(self, idx: np.ndarray) -> tuple[list[_Plan], dict[str, LayerKey]]:
        """Every term's plan for ``idx`` and the layers they need, by key text."""
        columns: dict[str, np.ndarray] = {}

        def col(name: str) -> np.ndarray:
            if name not in columns:
                c = self.names.index(name)
                columns[name] = value_array(self.values[c])[idx[:, c]]
            return columns[name]

        needed: dict[str, LayerKey] = {}
        plans = []
        for t_index, term in enumerate(self.terms):
            plans.append(self._plan_term(t_index, term, idx, col, needed))
        return plans, needed

    def _plan_term(self, t_index: int, term: Term, idx, col, needed) -> _Plan:
        cols = [self.names.index(p) for p in term.params]
        radices = [len(self.values[c]) for c in cols]
        code = np.zeros(len(idx), dtype=np.int64)
        for c, r in zip(cols, radices):
            code = code * r + idx[:, c]
        derived_values = []
        for _, fn in term.derived:
            uniq_d, inv_d = np.unique(np.asarray(fn(col)), return_inverse=True)
            code = code * len(uniq_d) + inv_d.reshape(-1)
            radices.append(len(uniq_d))
            derived_values.append([plain(v) for v in uniq_d.tolist()])
        uniq, inverse = np.unique(code, return_inverse=True)
        combos = []
        for u in uniq.tolist():
            combo = digits(u, radices)
            own, rest = combo[: len(cols)], combo[len(cols) :]
            extra = {name: dv[d] for (name, _), dv, d in zip(term.derived, derived_values, rest)}
            layers = self._layers(t_index, term, cols, own, extra)
            combos.append(layers)
            for key, _, _ in layers:
                needed.setdefault(key.text, key)
        scale = col(term.scale).astype(float) if term.scale is not None else None
        return _Plan(combos, inverse.reshape(-1), scale)

    def _layers(self, t_index, term: Term, cols, own, extra: dict) -> list[Weighted]:
        memo_key = (self.space_id, t_index, tuple(own), *extra.values())
        layers = self.memo.get(memo_key)
        if layers is None:
            vals = {term.params[j]: self.values[cols[j]][d] for j, d in enumerate(own)}
            vals.update(extra)
            layers = [
                (key, a, b)
                for ref, a, b in term.layers(vals)
                for key in layer_keys(ref, self.num_classes)
            ]
            self.memo[memo_key] = layers
        return layers


def add_plans(
    plans: list[_Plan], ms: Callable[[str], float], n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(plain sums, layer counts) of ``n`` samples from their plans and layer latencies."""
    total = np.zeros(n)
    count = np.zeros(n)
    for p in plans:
        A = np.array([sum(ms(k.text) * a for k, a, _ in c) for c in p.combos])
        B = np.array([sum(ms(k.text) * b for k, _, b in c) for c in p.combos])
        NA = np.array([sum(a for _, a, _ in c) for c in p.combos])
        NB = np.array([sum(b for _, _, b in c) for c in p.combos])
        if p.scale is None:
            total += A[p.inverse]
            count += NA[p.inverse]
        else:
            first = (p.scale >= 1).astype(float)
            rest = np.maximum(p.scale - 1, 0)
            total += A[p.inverse] * first + B[p.inverse] * rest
            count += NA[p.inverse] * first + NB[p.inverse] * rest
    return total, count
