"""The search room runs without a recipe: ``SearchDriver`` with hand-made settings, a built
space and evaluator, on a real local Ray, telling a recording observer every event in order
(and a bare ``SearchObserver``, whose hooks do nothing, alongside it)."""

from __future__ import annotations

import pytest
import search_testkit as kit

from accelsearch.search.driver import SearchDriver
from accelsearch.search.observer import SearchObserver
from accelsearch.search.settings import LatencySettings, SearchSettings, TrialSettings

pytestmark = pytest.mark.slow


class Recorder(SearchObserver):
    def __init__(self) -> None:
        self.events: list[tuple] = []
        self.numbers: list[tuple[int, str]] = []

    def on_search_start(self, start):
        self.events.append(("start", start.resumed, start.objectives, start.total))
        return "search-run-1"

    def on_trial_start(self, record, number, restarted):
        self.numbers.append((number, record.trial_id))
        self.events.append(("trial_start", record.trial_id, restarted))

    def on_trial_result(self, record, number, result):
        self.events.append(("result", record.trial_id, result.get("epoch")))

    def on_trial_complete(self, record, number, result):
        assert (number, record.trial_id) in self.numbers
        self.events.append(("complete", record.trial_id, record.status))

    def on_trial_error(self, record, number, error):
        assert (number, record.trial_id) in self.numbers
        self.events.append(("error", record.trial_id, error))

    def on_progress(self, records, running, total, t0):
        self.events.append(("progress", len(records), running, total))

    def on_search_end(self, result, trials_tracked=True):
        self.events.append(("end", len(result.trials), trials_tracked))


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2)
    yield
    ray.shutdown()


def test_driver_runs_settings_and_tells_observers_in_order(tmp_path):
    latency = LatencySettings(
        backend="torch", device="cpu", batch_size=2, protocol=kit.FAST_PROTOCOL
    )
    settings = SearchSettings(
        trial=TrialSettings(latency=latency, reward_target_ms=0.5, num_classes=4),
        space_name="search_flaky",
        strategy="random",
        num_samples=6,
        seed=0,
    )
    recorder = Recorder()
    printed: list[str] = []
    driver = SearchDriver(
        settings,
        kit.FlakySpace(),  # width 12 fails to build: those trials fail, the search goes on
        kit.ScoreEvaluator(epochs=2),
        tmp_path,
        observers=[SearchObserver(), recorder],
        printer=printed.append,
    )
    result = driver.run()

    assert len(result.trials) == 6 and result.mlflow_run_id == "search-run-1"
    assert result.failed and result.completed  # seed 0 samples width 12 once
    assert result.space == "search_flaky" and result.strategy == "random"
    events = recorder.events
    assert events[0] == ("start", False, ("reward",), 6)
    assert [n for n, _ in recorder.numbers] == [1, 2, 3, 4, 5, 6]  # in the order they started
    assert events[-1] == ("end", 6, True)
    for t in result.trials:
        mine = [e for e in events if e[0] != "progress" and e[1:2] == (t.trial_id,)]
        assert mine[0] == ("trial_start", t.trial_id, False)
        if t.ok:
            assert [e[2] for e in mine[1:-1]] == [1, 2]  # one result per epoch
            assert mine[-1] == ("complete", t.trial_id, "ok")
        else:
            assert t.arch.stages[0].width == 12
            assert mine[-1][0] == "error" and "width 12" in mine[-1][2]
    progress = [e for e in events if e[0] == "progress"]
    assert len(progress) == 12 and progress[-1] == ("progress", 6, 0, 6)  # start + end each
