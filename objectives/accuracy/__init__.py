"""Accuracy estimation (``accelsearch.objectives.accuracy``).

``get(name, **options)`` makes an evaluator by registered name; each evaluator's
``evaluate(arch, report)`` returns accuracy in percent:

* ``train`` (:class:`TrainEvaluator`): proxy training on real data, accuracy every epoch;
* ``proxy`` (:class:`~.proxy_evaluator.ProxyEvaluator`): a zero-cost proxy score instead;
* ``table`` (:class:`~.table.TableEvaluator`): a published table (NAS-Bench-201, timm).

The modules ``proxies``, ``table`` and ``train`` are importable from here.
"""

from __future__ import annotations

from typing import Any

from accelsearch.core.options import check_option_names
from accelsearch.core.registry import Registry
from accelsearch.objectives.accuracy import proxies, table, train
from accelsearch.objectives.accuracy.base import AccuracyEvaluator, Report
from accelsearch.objectives.accuracy.proxy_evaluator import ProxyEvaluator
from accelsearch.objectives.accuracy.table import TableAccuracy, TableEvaluator
from accelsearch.objectives.accuracy.train import TrainConfig, TrainEvaluator

EVALUATORS: Registry[type[AccuracyEvaluator]] = Registry("accuracy evaluator")
EVALUATORS.add("train", TrainEvaluator)
EVALUATORS.add("proxy", ProxyEvaluator)
EVALUATORS.add("table", TableEvaluator)


def get(name: str, **options: Any) -> AccuracyEvaluator:
    """A new evaluator registered as ``name`` (an option it does not take fails naming the
    valid ones)."""
    cls = EVALUATORS.get(name)
    check_option_names(cls, options, f"accuracy evaluator {name!r}")
    return cls(**options)


__all__ = [
    "AccuracyEvaluator",
    "EVALUATORS",
    "ProxyEvaluator",
    "Report",
    "TableAccuracy",
    "TableEvaluator",
    "TrainConfig",
    "TrainEvaluator",
    "get",
    "proxies",
    "table",
    "train",
]
