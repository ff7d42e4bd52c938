"""``AccuracyEvaluator``: the extension point for estimating accuracy.

:meth:`AccuracyEvaluator.evaluate` is called once per candidate; it calls ``report(epoch,
accuracy)`` as it goes (so Ray Tune schedulers such as ASHA can stop weak candidates) and
returns the final accuracy in percent (or, for a zero-cost proxy, its score).
:meth:`AccuracyEvaluator.prepare` is an optional hook, called once before a search, that
loads what every evaluation needs (a dataset, a table), so that a bad one fails early.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from accelsearch.core.arch import Arch

Report = Callable[[int, float], None]


class AccuracyEvaluator(ABC):
    name: str = ""

    @abstractmethod
    def evaluate(self, arch: Arch, report: Report | None = None) -> float:
        """Accuracy of ``arch`` in percent (0-100); ``report(epoch, acc)`` on the way.

        Raises :class:`~accelsearch.errors.EvaluationError` when the candidate cannot be
        evaluated (diverging loss, ...); the search records it as a failed trial.
        """

    def prepare(self) -> None:
        """Load data or tables before the first evaluation (no-op by default)."""

    def describe(self) -> str:
        """One line for logs and MLflow tags."""
        return self.name
