"""Accuracy estimation (``accelsearch.objectives.accuracy``).

``get("train", **options)`` makes an evaluator by registered name; each evaluator's
``evaluate(arch, report)`` returns accuracy in percent.
"""

from __future__ import annotations

from typing import Any

from accelsearch.objectives.accuracy.base import AccuracyEvaluator, Report
from accelsearch.objectives.accuracy.train import TrainConfig, TrainEvaluator
from accelsearch.registry import Registry

EVALUATORS: Registry[type[AccuracyEvaluator]] = Registry("accuracy evaluator")
EVALUATORS.add("train", TrainEvaluator)


def get(name: str, **options: Any) -> AccuracyEvaluator:
    """A new evaluator registered as ``name``."""
    return EVALUATORS.get(name)(**options)


__all__ = ["AccuracyEvaluator", "EVALUATORS", "Report", "TrainConfig", "TrainEvaluator", "get"]
