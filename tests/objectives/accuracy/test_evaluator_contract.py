"""Every registered accuracy evaluator, picked up from ``EVALUATORS``, held to the
:class:`AccuracyEvaluator` contract (as Optuna runs one test over all its samplers):
made by name with options as a recipe gives them, ``prepare()`` then ``evaluate(arch,
report)`` returning a finite number that is also the last value reported, epochs reported
in order, the same answer for the same arch where the evaluator is seeded, and an option it
does not take named in the error."""

from __future__ import annotations

import math

import pytest

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ConfigError
from accelsearch.core.kinds import check_options
from accelsearch.objectives import accuracy
from accelsearch.objectives.accuracy import AccuracyEvaluator

#: speed only: options that make an evaluator cheap on a 2-core CI machine (the digits data
#: set, one epoch); a registered evaluator not named here is made with its defaults
CHEAP_OPTIONS = {
    "train": dict(dataset="digits", epochs=1, batch_size=64, lr=0.1, threads=1, seed=3),
    "table": dict(table="timm"),  # timm's results table, packaged with accelsearch
}
#: evaluators that answer for archs of one space only get an arch of that space
TIMM_ARCH = Arch(
    resolution=224, stages=(Stage("timm", 512, ops=("resnet18.a1_in1k",)),), head=Head(0)
)
DOMAIN_ARCH = {"table": TIMM_ARCH}
#: every evaluator the package registers, read from the registry (evaluators that test
#: modules register on import as test doubles, e.g. tests/search/search_testkit.py, are
#: theirs to test, and would make the parameters depend on which tests were collected)
PACKAGED = [
    n
    for n in accuracy.EVALUATORS.names()
    if accuracy.EVALUATORS.get(n).__module__.startswith("accelsearch.")
]
#: evaluators whose number is a percentage (a proxy's score is a ranking signal)
PERCENT = {"train", "table"}


@pytest.mark.parametrize("name", PACKAGED)
def test_evaluator_contract(name, arch):
    cls = accuracy.EVALUATORS.get(name)
    assert issubclass(cls, AccuracyEvaluator) and cls.name == name
    options = CHEAP_OPTIONS.get(name, {})
    check_options(cls.__init__, options, "accuracy.options", owner=f"evaluator {name!r}")
    evaluator = accuracy.get(name, **options)
    assert isinstance(evaluator, cls)
    assert isinstance(evaluator.describe(), str) and evaluator.describe()
    evaluator.prepare()

    candidate = DOMAIN_ARCH.get(name, arch)
    reports: list[tuple[int, float]] = []
    value = evaluator.evaluate(candidate, lambda epoch, acc: reports.append((epoch, acc)))
    assert isinstance(value, float) and math.isfinite(value)
    if name in PERCENT:
        assert 0.0 <= value <= 100.0
    # schedulers such as ASHA see every epoch, in order, and the last report is the answer
    assert reports, f"evaluator {name!r} never called report()"
    epochs = [e for e, _ in reports]
    assert all(isinstance(e, int) for e in epochs) and epochs == sorted(set(epochs))
    assert epochs[0] == 1 and all(math.isfinite(a) for _, a in reports)
    assert reports[-1][1] == value
    # report is optional, and the same arch gets the same answer (seeded)
    assert evaluator.evaluate(candidate) == value


@pytest.mark.parametrize("name", PACKAGED)
def test_unknown_option_is_named(name):
    """What a recipe's ``accuracy.options`` goes through (``AccuracySpec.make``): the option
    checked against the evaluator's signature, then the evaluator made."""
    cls = accuracy.EVALUATORS.get(name)
    with pytest.raises(ConfigError, match=r"no_such_option.*valid options"):
        options = {**CHEAP_OPTIONS.get(name, {}), "no_such_option": 1}
        check_options(cls.__init__, options, "accuracy.options", owner=f"evaluator {name!r}")
        cls(**options)
