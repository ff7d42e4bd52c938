"""``Searcher``: the ask/tell extension point for strategies that are not Optuna samplers.

pymoo's loop is the model: ``ask()`` hands out one parameter assignment (or ``None`` while
the strategy waits for running trials), ``tell(id, metrics)`` gives back what the trial
reported (``None`` for a failed trial), in any order. One adapter
(:class:`accelsearch.search.tune_adapter.TuneSearcher`) drives every searcher from Ray Tune;
benchmarks drive them directly.

Subclasses implement :meth:`_ask_impl` and :meth:`_tell_impl`; optional hooks:
:meth:`is_finished` (a strategy with its own end, such as LLR) and :meth:`summary` (what the
strategy concluded, e.g. one winner per latency bin) and :meth:`set_budget` (a strategy
registered with ``constraints="native"`` or ``"own"`` gets the search's budget there; it
may check it against its options before any trial). Public methods validate and keep the
book-keeping; ``_impl`` methods do the work.

With a budget, a trial over it is told with its metrics and ``values=None`` when it was not
trained (the screen rejected it, or its measured latency did), or with its values when it
was; :meth:`violation` says by how much it broke the budget (0: feasible).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from accelsearch.core.errors import ConfigError, choices_text
from accelsearch.core.kinds import annotation_kinds, check_kind
from accelsearch.search.budget import Budget
from accelsearch.search.encoding import Encoding


@dataclass(frozen=True)
class Suggestion:
    """One assignment handed out by :meth:`Searcher.ask`; ``id`` comes back in ``tell``."""

    id: int
    params: dict[str, Any]


class Searcher(ABC):
    """Base of the ask/tell strategies (random, Sobol, pymoo, stratified, LLR).

    ``options`` are the strategy's keyword options from ``search.options``; a subclass lists
    the ones it takes (with defaults) in ``defaults``, and an unknown one is a clear error.
    A given option must be of its default's kind (an integer for ``rounds: 2``, a number for
    ``explore: 0.2``, ...); ``option_kinds`` names the kinds of those that take several, or
    whose default is ``None`` (which stays allowed).
    """

    defaults: ClassVar[dict[str, Any]] = {}
    option_kinds: ClassVar[dict[str, tuple[type, ...]]] = {}
    #: the search's budget (set by :meth:`set_budget`; ``None``: unconstrained)
    search_budget: Budget | None = None

    def __init__(self, space, objective, seed: int = 0, **options: Any) -> None:
        unknown = sorted(set(options) - set(self.defaults))
        if unknown:
            raise ConfigError(
                f"search.options has {unknown} which strategy {type(self).__name__} does not "
                f"take; valid options: {choices_text(self.defaults) or '(none)'}"
            )
        for name, value in options.items():
            self._check_kind(name, value)
        self.space = space
        self.objective = objective
        self.seed = int(seed)
        self.options = {**self.defaults, **options}
        self.encoding = Encoding(space)
        self.rng = np.random.default_rng(self.seed)
        self.pending: dict[int, dict[str, Any]] = {}
        self.history: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        self._next_id = 0

    def _check_kind(self, name: str, value: Any) -> None:
        default = self.defaults[name]
        if value is None and default is None:
            return
        kinds = self.option_kinds.get(name) or annotation_kinds(type(default))
        check_kind(f"search.options.{name}", value, kinds)

    # -- public ----------------------------------------------------------------------------
    def ask(self) -> Suggestion | None:
        """The next assignment to evaluate, or ``None`` while waiting (or when finished)."""
        if self.is_finished():
            return None
        params = self._ask_impl()
        if params is None:
            return None
        sug = Suggestion(self._next_id, dict(params))
        self._next_id += 1
        self.pending[sug.id] = sug.params
        return sug

    def tell(self, suggestion_id: int, metrics: dict[str, Any] | None) -> None:
        """What the trial of ``suggestion_id`` reported (``None``: it failed)."""
        if suggestion_id not in self.pending:
            raise ConfigError(
                f"tell() got suggestion id {suggestion_id!r}, which is not pending; pending: "
                f"{sorted(self.pending)}"
            )
        params = self.pending.pop(suggestion_id)
        values = self.objective.values(metrics) if metrics else None
        if values is None and not self.violation(metrics):
            metrics = None  # failed (an infeasible candidate keeps the metrics it has)
        self.history.append((params, dict(metrics) if metrics else None))
        self._tell_impl(suggestion_id, params, metrics, values)

    @property
    def n_told(self) -> int:
        return len(self.history)

    def violation(self, metrics: dict[str, Any] | None) -> float:
        """How far ``metrics`` break the search's budget, relative to it (0: within it, or
        no budget, or no metrics)."""
        if self.search_budget is None or not metrics:
            return 0.0
        return self.search_budget.violation(metrics)

    # -- hooks -------------------------------------------------------------------------------
    def set_budget(self, budget: Budget) -> None:
        """Called once, before any ask, for strategies registered with constraints
        ``native`` or ``own``; raise :class:`ConfigError` for a budget they cannot meet."""
        self.search_budget = budget

    def is_finished(self) -> bool:
        """True when the strategy has nothing more to ask (default: never)."""
        return False

    def summary(self) -> dict[str, Any]:
        """What the strategy concluded, JSON-ready (default: nothing)."""
        return {}

    # -- the work -------------------------------------------------------------------------------
    @abstractmethod
    def _ask_impl(self) -> dict[str, Any] | None:
        """Return the next assignment, or ``None`` to wait for running trials."""

    @abstractmethod
    def _tell_impl(
        self,
        suggestion_id: int,
        params: dict[str, Any],
        metrics: dict[str, Any] | None,
        values: tuple[float, ...] | None,
    ) -> None:
        """Called once per suggestion; ``values`` are the objectives to *minimise*
        (maximised metrics negated), ``None`` for a failed trial."""


class UniqueSampler:
    """Draws assignments not drawn before (falls back to repeats when the space is spent)."""

    def __init__(self, encoding: Encoding, max_tries: int = 200) -> None:
        self.encoding = encoding
        self.seen: set[tuple] = set()
        self.max_tries = max_tries

    def exhausted(self) -> bool:
        return len(self.seen) >= self.encoding.size()

    def accept(self, params: dict[str, Any], force: bool = False) -> bool:
        key = self.encoding.key(params)
        if key in self.seen and not force:
            return False
        self.seen.add(key)
        return True
