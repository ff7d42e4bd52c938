"""The confirm step of a run (``search.confirm``): real proxy trainings on the CPU (digits), a
real MLflow store, the checkpoint that a resume goes on from, failed runs recorded."""

from __future__ import annotations

import json

import pytest

from accelsearch import confirm_run, report
from accelsearch.core.errors import ConfigError
from accelsearch.recipe import recipe_from_dict
from accelsearch.search import confirm
from accelsearch.search.result import SearchResult, TrialRecord
from accelsearch.tracking import Tracker, default_tracking_uri

SPACE = {"name": "gpunet", "options": {"resolutions": [64], "width_mult": 0.25, "max_layers": 1}}
TRAIN = {"dataset": "digits", "val_dataset": None, "device": "cpu", "epochs": 1,
         "data_fraction": 0.3, "batch_size": 64, "lr": 0.1, "max_stride": 8}  # fmt: skip


def _recipe(device="cpu", top=2, evaluator="train", csv=None, **confirm):
    """A recipe confirming its ``top`` trials; ``evaluator: table`` reads ``csv`` (NB201)."""
    options = {**TRAIN, "device": device} if evaluator == "train" else {"csv": str(csv)}
    return recipe_from_dict(
        {
            "name": "confirm",
            "space": SPACE if evaluator == "train" else {"name": "nb201"},
            "num_classes": 10,
            "accuracy": {"evaluator": evaluator, "options": options},
            "reward": {"target_ms": 1.0},
            "search": {
                "options": {"objectives": ["accuracy"]},
                "confirm": {"top": top, "seeds": 2, **confirm},
            },
        }  # fmt: skip
    )


def _search(tracker: Tracker) -> SearchResult:
    space = _recipe().space.make()
    search_run = tracker.start_run("search", "confirm")
    trials = []
    for i, acc in enumerate([70.0, 65.0, 60.0]):
        params = space.sample(i)
        run_id = tracker.start_run("trial", f"t{i}", parent_id=search_run)
        metrics = {"accuracy": acc, "latency_ms": 0.5 + i / 10, "reward": acc, "feasible": 1}
        trials.append(
            TrialRecord(f"t{i}", params, "ok", metrics, space.decode(params), None, run_id)
        )
    return SearchResult(trials=trials, mlflow_run_id=search_run)


@pytest.fixture
def tracker(tmp_path):
    return Tracker(default_tracking_uri(tmp_path), "exp", tmp_path / "mlartifacts")


def test_the_best_trials_are_trained_again_and_a_resume_trains_none_twice(tmp_path, tracker):
    result, lines = _search(tracker), []
    summary = confirm_run.confirm_of_run(_recipe(), result, tmp_path, tracker, lines.append)
    assert [r["trial_id"] for r in summary["trials"]] == ["t0", "t1"]  # top 2 by accuracy
    assert summary["seeds"] == [1, 2] and summary["errors"] == []
    state = json.loads((tmp_path / confirm_run.CHECKPOINT).read_text())
    assert sorted((r["trial_id"], r["seed"]) for r in state["runs"]) == [
        ("t0", 1), ("t0", 2), ("t1", 1), ("t1", 2)]  # fmt: skip
    assert {r["proxy_seed"] for r in state["runs"]} <= {1, 2, 10_008, 10_009}
    for r in state["runs"]:  # the curve, to tell a slow start from a spike afterwards
        assert len(r["epoch_accuracy"]) == len(r["epoch_train_loss"]) == TRAIN["epochs"]
        assert r["epoch_accuracy"][-1] == pytest.approx(r["accuracy"], abs=1e-4)
    assert state["logged"] == sorted([r["trial_id"], r["seed"]] for r in state["runs"])
    for row in summary["trials"]:  # the mean of the two new runs, not the search's
        mine = [r["accuracy"] for r in state["runs"] if r["trial_id"] == row["trial_id"]]
        assert row["accuracy_confirmed"] == pytest.approx(sum(mine) / 2)
    assert result.best("accuracy").trial_id == summary["winner_confirmed"]
    assert result.summary["confirm"] is summary
    assert sum("training trial" in line for line in lines) == 4

    # MLflow: the confirmed trials' runs carry the figures, the search run the winner
    t0 = tracker.client.get_run(result.trials[0].mlflow_run_id).data
    assert t0.tags["accelsearch.confirmed"] == "true" and t0.metrics["confirm_runs"] == 2
    assert (
        "accelsearch.confirmed"
        not in tracker.client.get_run(result.trials[2].mlflow_run_id).data.tags
    )
    search = tracker.client.get_run(result.mlflow_run_id).data.tags
    assert search["accelsearch.confirmed_winner"] == summary["winner_confirmed"]

    # the summary's section
    text = "\n".join(report._search_section(_recipe(), result))
    assert "### Confirmed on 2 more seed(s): [1, 2]" in text and "| `t0` |" in text

    # resumed: the same figures, nothing trained again
    again, lines = _search(tracker), []
    for new, old in zip(again.trials, result.trials):
        new.mlflow_run_id = old.mlflow_run_id
    second = confirm_run.confirm_of_run(_recipe(), again, tmp_path, tracker, lines.append)
    assert second["trials"] == summary["trials"]
    assert not any("training trial" in line for line in lines)


def test_a_failing_run_is_recorded_the_others_go_on_and_a_resume_trains_it(tmp_path, tracker):
    result, lines = _search(tracker), []
    # CUDA asked for on a machine without it: every run fails in the evaluator, none stops
    # the step
    summary = confirm_run.confirm_of_run(_recipe("cuda"), result, tmp_path, tracker, lines.append)
    assert len(summary["errors"]) == 4 and summary["failed"] == ["t0", "t1"]
    assert "CUDA is not available" in summary["errors"][0]["error"]
    assert summary["winner_confirmed"] == "t0" and not summary["changed"]
    assert "4 run(s) failed" in lines[-1]
    text = "\n".join(confirm.markdown(summary))
    assert "Confirming runs that failed" in text and "seed 2" in text
    assert not json.loads((tmp_path / confirm_run.CHECKPOINT).read_text())["logged"]

    fixed = confirm_run.confirm_of_run(_recipe(), result, tmp_path, tracker, lines.append)
    assert fixed["errors"] == [] and fixed["failed"] == []
    assert len(fixed["trials"]) == 2


def test_confirm_needs_an_evaluator_that_takes_a_seed(tmp_path):
    from test_recipes_all import _nb201_table

    csv = tmp_path / "nats_bench_tss.csv"
    _nb201_table(csv)
    with pytest.raises(ConfigError, match=r"search.confirm.top 2.*'table' takes no seed"):
        _recipe(evaluator="table", csv=csv)
    with pytest.raises(ConfigError, match="search.confirm.by 'latency_ms'"):
        _recipe(by="latency_ms")
    assert _recipe(top=0, evaluator="table", csv=csv).search.confirm.top == 0  # off: no check


def test_the_budget_report_names_the_confirmed_winner_beside_the_searchs(tracker):
    from accelsearch.search.budget_report import budget_markdown, spending

    result = _search(tracker)
    for t in result.trials:
        t.metrics.update(measure_s=1.0, train_s=30.0)
    result.summary["budget"] = {**spending(result.trials, 1.0), "best_feasible": "t0"}
    result.trials[1].metrics["accuracy_confirmed"] = 66.0  # t1 alone confirmed: it wins
    confirm_run._rename_best_feasible(_recipe(), result)
    budget = result.summary["budget"]
    assert budget["best_feasible"] == "t1" and budget["best_feasible_search"] == "t0"
    text = budget_markdown(result.summary)
    assert "Best feasible trial: `t1` by the confirming runs (by the search's own: `t0`)" in text
    confirm_run._rename_best_feasible(_recipe(), result)  # again (a resume): unchanged
    assert result.summary["budget"]["best_feasible_search"] == "t0"


def test_a_run_that_fails_twice_is_listed_once(tmp_path, tracker):
    result = _search(tracker)
    for _ in range(2):  # failed, resumed, failed again
        summary = confirm_run.confirm_of_run(
            _recipe("cuda", top=1, seeds=1), result, tmp_path, tracker, lambda *a: None
        )
    assert [(e["trial_id"], e["seed"]) for e in summary["errors"]] == [("t0", 1)]


def test_the_leading_two_race_on_more_seeds_and_a_resume_goes_on_from_the_checkpoint(
    tmp_path, tracker
):
    # one run each gives no spread, so the race must run at least one round
    recipe = _recipe(top=3, seeds=1, max_seeds=3)
    result, lines = _search(tracker), []
    summary = confirm_run.confirm_of_run(recipe, result, tmp_path, tracker, lines.append)
    runs = {r["trial_id"]: len(r["accuracies"]) for r in summary["trials"]}
    assert sum(runs.values()) == 3 + summary["race_runs"] and summary["race_runs"] >= 2
    assert max(runs.values()) <= 3 and sorted(runs.values())[0] == 1  # one never raced
    assert any("race: lead" in line for line in lines)
    leaders = [summary["winner_confirmed"], summary["lead"]["runner_up"]]
    # the race ended because the lead was told apart or both leaders ran on every seed
    assert summary["lead"]["separated"] or all(runs[t] == 3 for t in leaders)
    state = json.loads((tmp_path / confirm_run.CHECKPOINT).read_text())
    assert len(state["runs"]) == sum(runs.values())

    again, lines = _search(tracker), []
    for new, old in zip(again.trials, result.trials):
        new.mlflow_run_id = old.mlflow_run_id
    second = confirm_run.confirm_of_run(recipe, again, tmp_path, tracker, lines.append)
    assert second["trials"] == summary["trials"] and second["lead"] == summary["lead"]
    assert not any("training trial" in line for line in lines)


def test_max_seeds_below_seeds_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match=r"max_seeds 1 is below seeds 2.*at least as many"):
        _recipe(max_seeds=1)


def test_a_resume_with_more_trials_to_confirm_logs_the_new_ones(tmp_path, tracker):
    result = _search(tracker)
    confirm_run.confirm_of_run(_recipe(top=1), result, tmp_path, tracker, lambda _: None)
    second = result.trials[1].mlflow_run_id
    assert "accelsearch.confirmed" not in tracker.client.get_run(second).data.tags
    confirm_run.confirm_of_run(_recipe(top=2), result, tmp_path, tracker, lambda _: None)
    assert tracker.client.get_run(second).data.tags["accelsearch.confirmed"] == "true"
