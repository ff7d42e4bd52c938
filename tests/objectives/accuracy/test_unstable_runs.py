"""An unstable proxy run (a train-loss spike mid-schedule) is seen, recorded and retried."""

from __future__ import annotations

import pytest

from accelsearch.errors import ConfigError
from accelsearch.objectives.accuracy.loop import LossGuard
from accelsearch.objectives.accuracy.train import RETRY_SEED_STEP, TrainConfig, TrainEvaluator

STABLE = dict(dataset="digits", batch_size=64, lr=0.1, threads=1, epochs=3)
# warm-up to lr 5 (clipped, so it stays finite): the loss rises in epoch 2 on every seed tried
SPIKY = dict(STABLE, lr=5.0, scheduler="constant", warmup_epochs=1, clip_grad=0.5)


def test_the_guard_marks_a_rise_above_the_lowest_loss_so_far():
    run: dict = {}
    guard = LossGuard(rise=0.03)
    assert not guard.check([2.0], run)
    assert not guard.check([2.0, 1.5, 1.52], run) and "unstable" not in run  # +1.3 %: noise
    assert not guard.check([2.0, 1.5, 1.6], run)  # +6.7 %: unstable, but not told to stop
    assert run["unstable"]["epoch"] == 3
    assert run["unstable"]["loss_rise"] == pytest.approx(1.6 / 1.5 - 1)
    assert LossGuard(rise=0.03, stop=True).check([2.0, 1.5, 1.6], {})


def test_a_stable_run_is_trained_once_and_says_so(arch):
    ev = TrainEvaluator(**STABLE, retry_unstable=2)
    ev.evaluate(arch)
    assert "unstable" not in ev.last_run
    assert ev.last_run["unstable_runs"] == [] and ev.last_run["seed"] == 0
    assert len(ev.last_run["train_loss"]) == 3


def test_without_retries_an_unstable_run_is_recorded_and_finishes(arch):
    ev = TrainEvaluator(**SPIKY)
    ev.evaluate(arch)
    assert ev.last_run["unstable"]["epoch"] == 2 and not ev.last_run["unstable"]["stopped"]
    assert len(ev.last_run["train_loss"]) == 3 and ev.last_run["unstable_runs"] == []


def test_unstable_runs_are_stopped_and_retried_on_new_seeds_until_the_last(arch):
    ev = TrainEvaluator(**SPIKY, seed=1, retry_unstable=2)
    acc = ev.evaluate(arch)
    stopped = ev.last_run["unstable_runs"]
    assert [r["seed"] for r in stopped] == [1, 1 + RETRY_SEED_STEP]
    assert all(r["stopped"] and r["epoch"] == 2 for r in stopped)
    # the last attempt runs to the end (still unstable: there is no other run to keep)
    assert ev.last_run["seed"] == 1 + 2 * RETRY_SEED_STEP
    assert len(ev.last_run["train_loss"]) == 3 and acc == ev.last_run["accuracy"][-1]


class _FirstAttemptSpikes(TrainEvaluator):
    """The real training, with the first attempt's losses made to spike at epoch 2."""

    def _train(self, model, arch, data, device, report, seed, stop_unstable=False):
        acc = super()._train(model, arch, data, device, report, seed, stop_unstable)
        if seed == self.config.seed:
            self.last_run["unstable"] = {"epoch": 2, "loss_rise": 0.5, "stopped": True}
        return acc


def test_a_retry_that_trains_stably_is_the_result(arch):
    ev = _FirstAttemptSpikes(**STABLE, retry_unstable=3)
    acc = ev.evaluate(arch)
    assert [r["seed"] for r in ev.last_run["unstable_runs"]] == [0]
    assert ev.last_run["seed"] == RETRY_SEED_STEP and "unstable" not in ev.last_run
    assert acc == ev.last_run["accuracy"][-1]


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        ({"unstable_loss_rise": 0}, "unstable_loss_rise"),
        ({"retry_unstable": -1}, "retry_unstable"),
        ({"retry_unstable": 1.5}, "retry_unstable"),
    ],
)
def test_bad_guard_settings_are_named(bad, match):
    with pytest.raises(ConfigError, match=match):
        TrainConfig(**bad)
