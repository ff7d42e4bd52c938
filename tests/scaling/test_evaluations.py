"""What a latency function may return, normalised where it enters scaling."""

from __future__ import annotations

import pytest

from accelsearch.core.errors import ConfigError
from accelsearch.objectives.latency.result import LatencyResult
from accelsearch.scaling import Evaluations, MeasuredLatency
from tests.scaling.lacs_synthetic import small_base


def test_a_bare_number_and_a_latency_result_become_one_type(tmp_path):
    arch = small_base(resolution=32)
    plain = Evaluations(lambda a: 2.5)
    assert plain.latency(arch) == (2.5, None, True)
    assert plain.measured(arch) == MeasuredLatency(2.5)
    assert plain.measured(arch).to_dict() == {"median_ms": 2.5}

    result = LatencyResult(1.5, 1.4, 1.6, 1.5, 0.01, 10, "torch", "cpu", "cpu", "fp32", 1, 32)
    path = tmp_path / "cache.json"
    rich = Evaluations(lambda a: result, path=path)
    ms, res, fresh = rich.latency(arch)
    assert (ms, res, fresh) == (1.5, result, True)
    assert rich.measured(arch).to_dict() == result.to_dict()
    again = Evaluations(None, path=path)  # the checkpoint keeps the result
    assert again.measured(arch) == MeasuredLatency(1.5, LatencyResult.from_dict(result.to_dict()))


@pytest.mark.parametrize("bad", [None, "2.0", 0.0, -1.0, True])
def test_a_latency_that_is_neither_ms_nor_a_result_is_named(bad):
    with pytest.raises(ConfigError, match="latency function returned"):
        Evaluations(lambda a: bad).latency(small_base(resolution=32))


def test_an_unscored_accuracy_in_a_checkpoint_is_asked_again(tmp_path):
    """A NaN accuracy (a proxy trained later, cut before it finished) is not a score."""
    scored, unscored = small_base(resolution=32), small_base(resolution=64)
    path = tmp_path / "cache.json"
    first = Evaluations(lambda a: 1.0, lambda a: 70.0 if a is scored else float("nan"), path)
    first.accuracy(scored), first.accuracy(unscored)
    asked = []
    again = Evaluations(None, lambda a: asked.append(a) or 80.0, path)
    assert again.restored == (0, 2)
    assert again.forget_unscored() == 1
    assert again.restored == (0, 1)
    assert again.accuracy(scored) == 70.0 and asked == []
    assert again.accuracy(unscored) == 80.0 and asked == [unscored]


def test_stale_accuracies_are_forgotten_and_asked_again(tmp_path):
    """A score a resumed run no longer trusts (say, a mean over fewer seeds) is asked again."""
    kept, stale = small_base(resolution=32), small_base(resolution=64)
    path = tmp_path / "cache.json"
    first = Evaluations(lambda a: 1.0, lambda a: 70.0 if a is kept else 60.0, path)
    first.accuracy(kept), first.accuracy(stale)
    asked = []
    again = Evaluations(None, lambda a: asked.append(a) or 65.0, path)
    assert again.forget_accuracies(lambda key, acc: key == stale.hash()) == 1
    assert again.restored == (0, 1)
    assert again.accuracy(kept) == 70.0 and asked == []
    assert again.accuracy(stale) == 65.0 and asked == [stale]
    assert again.evaluations == 2  # the replayed score counts as this run's, the new one too
