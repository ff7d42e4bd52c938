"""Families in MLflow (real SQLite store): the family/member schema, artifacts, comparison."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from accelsearch.core.accounting import arch_cost
from accelsearch.core.arch import Arch
from accelsearch.pipeline import log_family
from accelsearch.recipe import recipe_from_dict
from accelsearch.search.result import SearchResult, TrialRecord
from accelsearch.tracking import KIND_TAG, Tracker, default_tracking_uri

sys.path.insert(0, str(Path(__file__).parent / "scaling"))
from lacs_synthetic import compared_family  # noqa: E402


def _family():
    return compared_family(cost=lambda arch: arch_cost(arch, num_classes=10))


def _search() -> SearchResult:
    trials = [
        TrialRecord(f"t{i}", {}, "ok", metrics={"accuracy": a, "latency_ms": lat})
        for i, (a, lat) in enumerate([(50, 0.1), (55, 0.3), (52, 0.4), (60, 0.9)])
    ]
    return SearchResult(trials=trials, mlflow_run_id="search123")


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    out = tmp_path_factory.mktemp("ws")
    recipe = recipe_from_dict(
        {"name": "fam", "space": {"name": "efficientnet_x"}, "reward": {"target_ms": 1.0}}
    )
    tracker = Tracker(default_tracking_uri(out), "exp", out / "mlartifacts")
    family = _family()
    run_id = log_family(tracker, family, recipe, _search(), out)
    return tracker, family, run_id, out


def _runs(tracker):
    return tracker.client.search_runs([tracker.experiment_id], max_results=1000)


def test_family_and_member_runs_follow_the_schema(logged):
    tracker, family, run_id, _ = logged
    runs = _runs(tracker)
    by_kind = {}
    for r in runs:
        by_kind.setdefault(r.data.tags[KIND_TAG], []).append(r)
    assert sorted(by_kind) == ["family", "member"]
    assert len(by_kind["family"]) == 2  # LACS and the EfficientNet baseline
    main = tracker.client.get_run(run_id)
    assert main.info.status == "FINISHED"
    assert main.data.tags["accelsearch.scaling_method"] == "lacs"
    assert main.data.tags["accelsearch.search_run_id"] == "search123"
    assert float(main.data.params["alpha"]) == family.alpha
    other_id = main.data.tags["accelsearch.baseline_run_id"]
    other = tracker.client.get_run(other_id)
    assert other.data.tags["accelsearch.compared_with"] == run_id
    assert other.data.tags["accelsearch.scaling_method"] == "efficientnet"
    assert other.info.status == "FINISHED"

    members = [r for r in by_kind["member"] if r.data.tags["mlflow.parentRunId"] == run_id]
    assert sorted(r.info.run_name for r in members) == ["fam-0", "fam-1", "fam-2"]
    for r in members:
        m = next(x for x in family.members if x.name == r.info.run_name)
        assert {"alpha", "beta", "gamma", "phi", "target_ms"} <= set(r.data.params)
        assert float(r.data.params["phi"]) == pytest.approx(m.phi)
        assert float(r.data.params["target_ms"]) == pytest.approx(m.target_ms)
        metrics = r.data.metrics
        assert {"accuracy", "latency_ms", "reward", "params_m", "gflops"} <= set(metrics)
        assert metrics["latency_ms"] == pytest.approx(m.latency_ms)
        assert metrics["n_measurements"] == m.n_measurements
        assert "intensity" not in metrics  # no roofline here: the field stays empty
        path = tracker.client.download_artifacts(r.info.run_id, "arch.json", str(logged[3]))
        assert Arch.from_json(Path(path).read_text()) == m.arch
        assert r.info.status == "FINISHED"
    assert len([r for r in by_kind["member"] if r.data.tags["mlflow.parentRunId"] == other_id]) == 3


def test_family_artifacts(logged, tmp_path):
    tracker, family, run_id, out = logged
    names = {a.path for a in tracker.client.list_artifacts(run_id)}
    assert {"family.md", "family.json", "family.png", "comparison.md", "comparison.json"} <= names
    table = Path(tracker.client.download_artifacts(run_id, "family.md", str(tmp_path))).read_text()
    assert table.count("\n") == len(family.members) + 1 and "fam-2" in table
    rows = json.loads(
        Path(
            tracker.client.download_artifacts(run_id, "comparison.json", str(tmp_path))
        ).read_text()
    )
    assert len(rows) == 2 and "efficientnet_accuracy" in rows[0]
    saved = json.loads(
        Path(tracker.client.download_artifacts(run_id, "family.json", str(tmp_path))).read_text()
    )
    assert saved["mlflow_run_id"] == run_id and saved["baseline"]["method"] == "efficientnet"
    assert (out / "family.png").stat().st_size > 10_000
