"""The tables and ``summary.md`` at the end of a run (progress: tests/test_progress.py)."""

from __future__ import annotations

import pytest
from mlflow_kit import ROOT

from accelsearch import report
from accelsearch.recipe import load_recipe
from accelsearch.scaling.family import Family, FamilyMember
from accelsearch.search.result import SearchResult, TrialRecord


@pytest.fixture(scope="module")
def archs():
    from accelsearch import spaces

    space = spaces.get("efficientnet_x", width_mult=0.25, resolutions=(32,), depth_deltas=(-1, 0))
    return [space.sample_arch(i) for i in range(3)]


def _result(archs) -> SearchResult:
    def ok(tid, acc, lat, arch):
        metrics = {"accuracy": acc, "latency_ms": lat, "reward": acc * (lat / 3) ** -0.09}
        metrics.update(params_m=0.5, gflops=0.01)
        return TrialRecord(tid, {}, "ok", metrics, arch)

    return SearchResult(
        [
            ok("t1", 80.0, 2.0, archs[0]),
            ok("t2", 70.0, 3.0, archs[1]),  # dominated by t1: not in the Pareto set
            TrialRecord("t3", {}, "failed", {}, archs[2], "Traceback ...\nArchError: too deep"),
        ],
        strategy="random",
        space="efficientnet_x",
        wall_s=12.0,
    )


def _family(archs) -> Family:
    def member(i, target, lat, ok):
        return FamilyMember(
            f"fam-{i}", archs[0], target, 1.0, 1.2, 1.2, 0.5 * i, lat, lat / target - 1, ok,
            accuracy=80.0 + i, reward=0.8, params_m=0.5 + i, gflops=0.01, n_measurements=3,
        )  # fmt: skip

    members = [member(0, 2.0, 2.0, True), member(1, 3.0, 3.05, True), member(2, 4.0, 4.6, False)]
    return Family("fam", archs[0], 2.0, members, 1.0, 1.2, 1.2, settings={"tolerance": 0.05})


def test_summary_has_pareto_family_and_failures(archs, tmp_path):
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    result, family = _result(archs), _family(archs)
    text = report.summary_markdown(recipe, result, family, "torch on cpu, fp32, batch 8")
    path = report.write_summary(tmp_path / "summary.md", text)
    saved = path.read_text()
    assert saved.startswith("# quickstart")
    assert "- latency: torch on cpu, fp32, batch 8" in saved
    assert "## Search: 2 trials completed, 1 failed, 12 s" in saved
    pareto = saved.split("## Search")[1].split("Failed trials")[0]
    assert "| t1 | 80.00 | 2.000 |" in pareto and "| t2 |" not in pareto
    assert "- `t3`: ArchError: too deep" in saved
    fam = saved.split("## Family")[1]
    assert "(α, β, γ) = (1.0, 1.2, 1.2)" in fam
    for name in ("fam-0", "fam-1", "fam-2"):
        assert f"| {name} |" in fam
    assert "+15.0 !" in fam and "+1.7 |" in fam  # the member outside the 5 % tolerance is marked
    assert "missed the latency tolerance (5 %)" in fam


def test_end_of_run_tables(archs, capsys):
    report.print_tables(_result(archs), _family(archs))
    out = capsys.readouterr().out
    assert "Pareto set (accuracy ↑, latency ↓)" in out and "Family fam" in out
    assert "t1" in out and "fam-2" in out and "+15.0 !" in out


def test_utilisation_column_and_strategy_conclusion(archs):
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    result = _result(archs)
    result.trials[0].metrics["utilization"] = 0.125
    head, rows = report.pareto_rows(result)
    assert head[-2:] == ["util %", "arch"] and rows[0][-2] == "12.5"
    assert "util %" not in report.pareto_rows(_result(archs))[0]  # only when reported
    result.summary = {
        "strategy": "stratified",
        "metric": "accuracy",
        "predictor_unit": "ms",
        "bins": [
            {"bin": 0, "range": [0.5, 0.8], "candidates": 40, "evaluated": 3,
             "winner": {"accuracy": 71.25, "latency_ms": 0.61, "arch": "i224-x"}},
            {"bin": 1, "range": [0.8, 1.2], "candidates": 40, "evaluated": 0},
        ],
    }  # fmt: skip
    text = report.summary_markdown(recipe, result, None)
    assert "### What `random` concluded" in text
    assert "| 0.500-0.800 | 40 | 3 | 71.25 | 0.610 | i224-x |" in text
    assert "| 0.800-1.200 | 40 | 0 | - | - | - |" in text
    result.summary = {"strategy": "llr", "rounds": [{"center_accuracy": 70.0}]}
    assert '"center_accuracy": 70.0' in report.summary_markdown(recipe, result, None)


def test_summary_says_the_table_is_the_pareto_set_of_the_completed_trials(archs):
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    text = report.summary_markdown(recipe, _result(archs), None)
    head = text.split("## Search: 2 trials completed, 1 failed, 12 s")[1].split("| trial |")[0]
    assert "The Pareto set: 1 of the 2 completed trials" in head
    assert "no other trial is both more accurate and faster" in head


def test_accuracies_from_spiked_proxy_runs_are_marked_and_explained(archs):
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    result = _result(archs)
    result.trials[0].metrics["proxy_unstable"] = 1
    _, rows = report.pareto_rows(result)
    assert rows[0][1].endswith(" †")
    text = report.summary_markdown(recipe, result, None)
    assert "**1 accuracy marked `†` from a proxy training whose loss spiked**" in text
    assert "(`t1`)" in text and "retry_unstable: 1" in text
    assert "`†`" not in report.summary_markdown(recipe, _result(archs), None)


def test_busy_latencies_are_marked_in_the_tables_and_the_summary(archs, capsys):
    recipe = load_recipe(ROOT / "recipes" / "quickstart.yaml")
    result, family = _result(archs), _family(archs)
    result.trials[0].metrics["latency_noisy"] = 1
    family.members[2].latency = {"noisy": True, "noisy_reason": "spread cv 0.120 > 0.05"}
    _, rows = report.pareto_rows(result)
    assert rows[0][2] == "2.000 ~"
    _, rows = report.family_rows(family)
    assert [r[2] for r in rows] == ["2.000", "3.050", "4.600 ~"]
    text = report.summary_markdown(recipe, result, family)
    assert "**2 latencies marked `~` looked busy**" in text
    assert "trial `t1`" in text and "`fam-2` (spread cv 0.120 > 0.05)" in text
    assert "looked busy" not in report.summary_markdown(recipe, _result(archs), _family(archs))
    report.print_tables(result, family)
    assert "4.600 ~" in capsys.readouterr().out
