"""Which of a space's ordered parameters moves one stage's depth or width, and by how much:
the features of LLR's linear models (fitted and selected in :mod:`accelsearch.search.llr_model`,
used by :mod:`accelsearch.search.llr`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from accelsearch.core.errors import AccelSearchError


def stage_effects(
    decode: Callable[[np.ndarray], Any], encoding, idx0: np.ndarray
) -> dict[int, dict[int, tuple[int, str, float]]]:
    """For each ordered parameter (of ``encoding``) that only moves one stage's depth or width
    from the arch ``decode(idx0)``: value index -> (stage, kind, change). Depth changes in
    blocks, width relative."""
    arch0 = decode(idx0)
    out: dict[int, dict[int, tuple[int, str, float]]] = {}
    for p, ordered in enumerate(encoding.ordered):
        if not ordered or encoding.cardinalities[p] < 2:
            continue
        table: dict[int, tuple[int, str, float]] = {}
        ok = True
        for v in range(int(encoding.cardinalities[p])):
            if v == idx0[p]:
                continue
            idx = idx0.copy()
            idx[p] = v
            try:
                effect = _one_stage_change(arch0, decode(idx))
            except AccelSearchError:
                effect = None
            if effect is None:
                ok = False
                break
            table[v] = effect
        if ok and table:
            out[p] = table
    return out


def _shape_free(stage):
    return dataclasses.replace(stage, depth=0, width=1, nominal_in=0)


def _one_stage_change(a0, a1) -> tuple[int, str, float] | None:
    """(stage, kind, change) when ``a1`` differs from ``a0`` in one stage's depth or width
    only (a later stage's ``nominal_in`` may follow); ``None`` otherwise."""
    if (
        a0.resolution != a1.resolution
        or a0.stem != a1.stem
        or a0.head != a1.head
        or len(a0.stages) != len(a1.stages)
    ):
        return None
    changed = []
    for j, (s0, s1) in enumerate(zip(a0.stages, a1.stages)):
        if s0 == s1:
            continue
        if _shape_free(s0) != _shape_free(s1):
            return None
        if s0.depth != s1.depth and s0.width != s1.width:
            return None
        if s0.depth != s1.depth:
            changed.append((j, "depth", float(s1.depth - s0.depth)))
        elif s0.width != s1.width:
            changed.append((j, "width", s1.width / s0.width - 1.0))
        # only nominal_in differs: a follower of the changed stage
    if len(changed) != 1:
        return None
    return changed[0]
