"""What the search says about its Ray resources before any trial (``tune_setup``)."""

from __future__ import annotations

import pytest

from accelsearch.search.settings import LatencySettings, SearchSettings, TrialSettings
from accelsearch.search.tune_setup import gpu_sharing_note


def settings(device: str, gpus: float, concurrent: int) -> SearchSettings:
    trial = TrialSettings(latency=LatencySettings(device=device), reward_target_ms=0.5)
    return SearchSettings(trial=trial, gpus_per_trial=gpus, max_concurrent=concurrent)


def test_trials_that_share_a_gpu_are_told_what_it_does_to_their_latency():
    note = gpu_sharing_note(settings("cuda", 0.25, 4))
    assert note.startswith("up to 4 trials share each GPU (search.gpus_per_trial 0.25)")
    assert "reads a few percent high" in note and "search.gpus_per_trial: 1" in note
    assert gpu_sharing_note(settings("auto", 0.25, 2)).startswith("up to 2 trials")


@pytest.mark.parametrize(
    ("device", "gpus", "concurrent"),
    [("cuda", 1, 4), ("cuda", 0.25, 1), ("cpu", 0.25, 4), ("cuda", 0, 4), ("cuda", 0.6, 4)],
)
def test_no_note_where_no_two_trials_time_on_one_gpu(device, gpus, concurrent):
    assert gpu_sharing_note(settings(device, gpus, concurrent)) is None
