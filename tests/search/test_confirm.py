"""Confirming the search's winner (``search.confirm``): which trials, which seeds, and how the
winner is named from the confirming runs."""

from __future__ import annotations

import pytest

from accelsearch.search import confirm
from accelsearch.search.result import SearchResult, TrialRecord


def _result() -> SearchResult:
    rows = [  # id, status, accuracy, latency, feasible
        ("lucky", "ok", 90.0, 0.40, 1),
        ("steady", "ok", 89.0, 0.45, 1),
        ("third", "ok", 88.5, 0.30, 1),
        ("fourth", "ok", 80.0, 0.20, 1),
        ("over", "ok", 95.0, 0.70, 0),  # trained, but over the budget
        ("broken", "failed", None, None, 1),
        ("screened", "screened", None, None, 0),
    ]
    trials = []
    for tid, status, acc, lat, feasible in rows:
        m = {"feasible": feasible}
        if acc is not None:
            m.update(accuracy=acc, latency_ms=lat, reward=acc * 0.9)
        trials.append(TrialRecord(tid, {"net": tid}, status, metrics=m))  # one network each
    return SearchResult(trials=trials)


def _reward(acc: float, lat: float) -> float:
    return acc * (lat / 0.5) ** -0.09


def test_the_plan_takes_the_best_feasible_trained_trials_best_first():
    plan = confirm.plan(_result(), "accuracy", 3, confirm.confirm_seeds(0, 2))
    assert plan.trial_ids == ("lucky", "steady", "third")  # not "over", not the failed ones
    assert plan.seeds == (1, 2)
    assert plan.runs()[:2] == [("lucky", 1), ("lucky", 2)]
    assert confirm.plan(_result(), "accuracy", 10, (1,)).trial_ids[-1] == "fourth"
    with pytest.raises(ValueError, match="accuracy.*reward"):
        confirm.plan(_result(), "latency_ms", 3, (1,))


def test_the_winner_is_the_best_mean_of_the_new_runs_not_the_search_run():
    result = _result()
    plan = confirm.plan(result, "accuracy", 3, (1, 2))
    # "lucky" won the search by a lucky seed: its new runs are worse than "steady"'s
    runs = {"lucky": {1: 86.0, 2: 87.0}, "steady": {1: 88.8, 2: 89.2}, "third": {1: 88.0, 2: 87.0}}
    summary = confirm.apply(result, plan, runs, _reward)
    assert summary["winner_search"] == "lucky" and summary["winner_confirmed"] == "steady"
    assert summary["changed"] and summary["failed"] == []
    steady = next(t for t in result.trials if t.trial_id == "steady")
    assert steady.metrics["accuracy_confirmed"] == pytest.approx(89.0)  # 89.0 of the search
    assert steady.metrics["accuracy_confirmed_sd"] == pytest.approx(0.2828, abs=1e-4)
    assert steady.metrics["confirm_runs"] == 2
    assert steady.metrics["reward_confirmed"] == pytest.approx(_reward(89.0, 0.45))
    assert steady.metrics["accuracy"] == 89.0  # the search's own figure is kept
    ranks = {r["trial_id"]: (r["rank_search"], r["rank_confirmed"]) for r in summary["trials"]}
    assert ranks == {"lucky": (1, 3), "steady": (2, 1), "third": (3, 2)}
    # best() ranks the confirmed trials by their confirmed figure; latency is not confirmed
    assert result.best("accuracy").trial_id == "steady"
    # by reward, the faster "third" (87.5 at 0.30 ms) beats "steady" (89.0 at 0.45 ms)
    assert result.best("reward").trial_id == "third"
    assert result.best("latency_ms", "min").trial_id == "fourth"
    assert confirm.apply(result, plan, runs, _reward) == summary  # again: the same


def test_a_trial_whose_runs_all_failed_stays_unconfirmed_and_is_passed_over():
    result = _result()
    plan = confirm.plan(result, "accuracy", 2, (1, 2))
    summary = confirm.apply(result, plan, {"steady": {2: 88.0}}, _reward)
    assert summary["failed"] == ["lucky"]
    assert [r["trial_id"] for r in summary["trials"]] == ["steady"]
    assert summary["trials"][0]["accuracy_confirmed_sd"] == 0.0  # one run: no spread
    assert "accuracy_confirmed" not in result.trials[0].metrics
    assert result.best("accuracy").trial_id == "steady"  # the confirmed one


def test_without_confirmed_trials_best_is_the_search_best():
    assert _result().best("accuracy").trial_id == "lucky"
    nothing = confirm.apply(_result(), confirm.plan(_result(), "accuracy", 1, (1,)), {}, _reward)
    assert nothing["winner_confirmed"] == nothing["winner_search"] == "lucky"
    assert not nothing["changed"]


def test_figures_of_an_earlier_plan_are_dropped():
    """Resumed with a smaller ``top``: a trial the new plan leaves out is no longer confirmed
    (else ``best()`` would still count its old figures)."""
    result = _result()
    runs = {"lucky": {1: 86.0}, "steady": {1: 88.0}, "third": {1: 89.5}}
    confirm.apply(result, confirm.plan(result, "accuracy", 3, (1,)), runs, _reward)
    assert result.best("accuracy").trial_id == "third"
    confirm.apply(result, confirm.plan(result, "accuracy", 2, (1,)), runs, _reward)
    assert "accuracy_confirmed" not in result.trials[2].metrics
    assert result.best("accuracy").trial_id == "steady"


def test_a_network_the_search_trained_twice_is_confirmed_once():
    result = _result()
    copy = TrialRecord("copy", {"net": "lucky"}, "ok", metrics=dict(result.trials[0].metrics))
    result.trials.insert(1, copy)  # the same network (no arch: the same params) as "lucky"
    assert confirm.plan(result, "accuracy", 3, (1,)).trial_ids == ("lucky", "steady", "third")


def _summary(runs: dict[str, dict[int, float]], metric: str = "accuracy") -> dict:
    result = _result()
    plan = confirm.plan(result, metric, len(runs), sorted({s for r in runs.values() for s in r}))
    summary = confirm.apply(result, plan, runs, _reward)
    summary.update(errors=[], train_s=10.0)
    return summary


def test_the_lead_is_told_apart_by_the_spread_of_all_runs_pooled():
    # steady 89.0 leads third 87.5 by 1.5; variances 0.08, 0.5, 0.5 over 3 degrees of
    # freedom pool to sd 0.6, so the lead's standard error is 0.6 * sqrt(1/2 + 1/2)
    runs = {"lucky": {1: 86.0, 2: 87.0}, "steady": {1: 88.8, 2: 89.2}, "third": {1: 88.0, 2: 87.0}}
    lead = _summary(runs)["lead"]
    assert lead["runner_up"] == "third" and lead["df"] == 3
    assert lead["points"] == pytest.approx(1.5)
    assert lead["pooled_sd"] == pytest.approx(0.6)
    assert lead["se"] == pytest.approx(0.6)
    assert lead["separated"]  # 1.5 >= 2 x 0.6
    text = confirm.describe(_summary(runs))
    assert "leads trial third by 1.50 points ± 0.60" in text and "told apart" in text


def test_a_lead_inside_the_noise_is_reported_as_not_told_apart():
    # the H100's 20-trial run: the new winner led by 0.54 (its own two runs made the lead
    # look larger), pooled sd 0.66 -> standard error 0.66: not told apart
    runs = {"lucky": {1: 83.84, 2: 83.35}, "steady": {1: 84.33, 2: 85.08},
            "third": {1: 83.50, 2: 84.84}}  # fmt: skip
    summary = _summary(runs)
    lead = summary["lead"]
    assert lead["runner_up"] == "third" and lead["points"] == pytest.approx(0.535)
    assert lead["se"] == pytest.approx(0.658, abs=1e-3) and not lead["separated"]
    assert "not told apart" in confirm.describe(summary)
    table = "\n".join(confirm.markdown(summary))
    assert "It leads trial third by 0.53 points ± 0.66" in table
    assert "more seeds (`search.confirm.seeds`, or `max_seeds`" in table


def test_one_run_each_gives_a_lead_without_a_spread_and_one_trial_no_lead():
    one_each = _summary({"lucky": {1: 86.0}, "steady": {1: 88.0}})
    assert one_each["lead"]["se"] is None and not one_each["lead"]["separated"]
    assert "one run each" in confirm.describe(one_each)
    alone = _summary({"lucky": {1: 86.0, 2: 87.0}})
    assert alone["lead"] is None
    assert confirm.describe(alone).endswith("trial lucky stays the winner")


def test_by_reward_the_lead_is_in_reward_units():
    runs = {"lucky": {1: 86.0, 2: 87.0}, "steady": {1: 88.8, 2: 89.2}, "third": {1: 88.0, 2: 87.0}}
    lead = _summary(runs, "reward")["lead"]
    # third (0.30 ms) wins by reward; its runs' rewards are its accuracies x (0.6)^-0.09
    assert lead["runner_up"] == "steady"
    third = [_reward(a, 0.30) for a in (88.0, 87.0)]
    steady = [_reward(a, 0.45) for a in (88.8, 89.2)]
    assert lead["points"] == pytest.approx(sum(third) / 2 - sum(steady) / 2)


def test_the_race_gives_the_two_leaders_one_more_run_each_until_told_apart():
    result = _result()
    race = confirm.plan(result, "accuracy", 3, (1, 2), race_seeds=(3, 4))
    assert race.all_seeds == (1, 2, 3, 4) and race.runs()[-1] == ("third", 2)
    close = {"lucky": {1: 86.0, 2: 87.0}, "steady": {1: 86.8, 2: 87.2}, "third": {1: 80.0, 2: 81.0}}
    summary = confirm.apply(result, race, close, _reward)
    assert not summary["lead"]["separated"]  # 0.5 points with a pooled sd of 0.6
    assert confirm.race_runs(race, close, summary) == [("steady", 3), ("lucky", 3)]
    # one more round each: all their runs count, the race's are counted apart
    close["steady"][3], close["lucky"][3] = 87.1, 86.4
    summary = confirm.apply(result, race, close, _reward)
    steady = next(r for r in summary["trials"] if r["trial_id"] == "steady")
    assert steady["seeds"] == [1, 2, 3] and steady["accuracy_confirmed"] == pytest.approx(
        87.033, abs=1e-3
    )
    assert summary["race_runs"] == 2 and summary["max_seeds"] == 4
    assert "the leading two raced (2 more runs, up to 4 each)" in confirm.describe(
        {**summary, "errors": [], "train_s": 1.0}
    )
    # every seed run: the race ends, told apart or not
    close["steady"][4], close["lucky"][4] = 87.0, 86.6
    summary = confirm.apply(result, race, close, _reward)
    assert confirm.race_runs(race, close, summary) == []
    # not told apart at the cap: only a higher cap would add runs, and both texts say so
    summary = {**summary, "errors": [], "train_s": 1.0}
    table = "\n".join(confirm.markdown(summary))
    for text in (confirm.describe(summary), table):
        assert "not told apart" in text and confirm.MORE_SEEDS not in text
        assert "a higher `search.confirm.max_seeds` would narrow it" in text


def test_no_race_once_told_apart_or_without_race_seeds():
    result = _result()
    clear = {"lucky": {1: 80.0, 2: 80.5}, "steady": {1: 88.8, 2: 89.2}, "third": {1: 84.0, 2: 84.4}}
    race = confirm.plan(result, "accuracy", 3, (1, 2), race_seeds=(3, 4))
    summary = confirm.apply(result, race, clear, _reward)
    assert summary["lead"]["separated"] and confirm.race_runs(race, clear, summary) == []
    plain = confirm.plan(result, "accuracy", 3, (1, 2))
    close = {"lucky": {1: 86.0}, "steady": {1: 86.1}}
    summary = confirm.apply(result, plain, close, _reward)
    assert confirm.race_runs(plain, close, summary) == [] and summary["race_runs"] == 0
