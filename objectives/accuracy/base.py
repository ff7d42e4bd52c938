"""``AccuracyEvaluator``: the extension point for estimating accuracy.

:meth:`AccuracyEvaluator.evaluate` is called once per candidate; it calls ``report(epoch,
accuracy)`` as it goes (so Ray Tune schedulers such as ASHA can stop weak candidates) and
returns the final accuracy in percent.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from accelsearch.arch import Arch

Report = Callable[[int, float], None]


class AccuracyEvaluator(ABC):
    name: str = ""

    @abstractmethod
    def evaluate(self, arch: Arch, report: Report | None = None) -> float:
        """Accuracy of ``arch`` in percent (0-100); ``report(epoch, acc)`` on the way."""

    def describe(self) -> str:
        """One line for logs and MLflow tags."""
        return self.name
