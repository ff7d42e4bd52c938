"""Model-free baselines: uniform ``random`` and scrambled ``sobol`` sampling.

Both sample the encoded space (one index per parameter) without repeating an assignment
until the space is spent. Sobol points (``scipy.stats.qmc.Sobol``, scrambled with the
search seed) cover the unit cube more evenly than random ones; a point maps to indices by
``floor(u × cardinality)`` per parameter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from accelsearch.search.searcher import Searcher, UniqueSampler
from accelsearch.search.strategy import register_searcher


@register_searcher("random", description="uniform random sampling without repeats")
class RandomSearcher(Searcher):
    def __init__(self, space, objective, seed: int = 0, **options: Any) -> None:
        super().__init__(space, objective, seed, **options)
        self.unique = UniqueSampler(self.encoding)

    def _ask_impl(self) -> dict[str, Any]:
        force = self.unique.exhausted()
        for _ in range(self.unique.max_tries):
            params = self.encoding.from_indices(self.encoding.random_indices(self.rng)[0])
            if self.unique.accept(params, force=force):
                return params
        return params  # tiny space nearly spent: allow a repeat

    def _tell_impl(self, suggestion_id, params, metrics, values) -> None:
        pass


class SobolStream:
    """Scrambled Sobol points of the unit cube, drawn in blocks of a power of two."""

    def __init__(self, dim: int, seed: int, block: int = 64) -> None:
        from scipy.stats import qmc

        self.engine = qmc.Sobol(d=dim, scramble=True, seed=seed)
        self.block = block
        self.buffer: list[np.ndarray] = []

    def next(self) -> np.ndarray:
        if not self.buffer:
            self.buffer = list(self.engine.random(self.block))
        return self.buffer.pop(0)

    def take(self, n: int) -> np.ndarray:
        """``n`` points at once (rounded up to whole blocks internally)."""
        out = [self.next() for _ in range(min(n, len(self.buffer)))]
        while len(out) < n:
            k = self.block * int(np.ceil((n - len(out)) / self.block))
            pts = list(self.engine.random(k))
            need = n - len(out)
            out.extend(pts[:need])
            self.buffer = pts[need:]
        return np.array(out)


@register_searcher("sobol", description="scrambled Sobol sequence over the encoded space")
class SobolSearcher(Searcher):
    def __init__(self, space, objective, seed: int = 0, **options: Any) -> None:
        super().__init__(space, objective, seed, **options)
        self.stream = SobolStream(self.encoding.dim, self.seed)
        self.unique = UniqueSampler(self.encoding)

    def _ask_impl(self) -> dict[str, Any]:
        force = self.unique.exhausted()
        for _ in range(self.unique.max_tries):
            params = self.encoding.from_unit(self.stream.next())
            if self.unique.accept(params, force=force):
                return params
        return params

    def _tell_impl(self, suggestion_id, params, metrics, values) -> None:
        pass
