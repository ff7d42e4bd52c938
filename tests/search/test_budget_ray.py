"""A search under a budget on a real local Ray cluster, tracked in a real MLflow store.

Constrained TPE behind the screen: a GFLOPs budget rejects candidates on the CPU (exactly,
before the GPU); with ``max_per_trial: 2`` the second rejection in a row goes to a trial
anyway, which stops at its size check before measuring or training. The records, the MLflow
tags (``feasible``, ``screened``), the GPU-seconds summary and the best *feasible* trial say
so. (The latency gate is checked without Ray in ``test_budget.py``: CPU timings of the tiny
space are too close together to split reliably here, so the latency budget is generous.)
"""

from __future__ import annotations

import pytest
import search_testkit as kit
from mlflow.tracking import MlflowClient

from accelsearch.pipeline import run_recipe

pytestmark = pytest.mark.slow

GFLOPS = 5e-5  # the tiny space spans 1.6e-5 .. 6.8e-4 GFLOPs: most are over
LATENCY = 5.0  # ms: above every tiny arch's CPU latency (~0.24 .. 0.5 ms)


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2)
    yield
    ray.shutdown()


def test_a_budgeted_search_records_what_it_screened_measured_and_trained(tmp_path):
    rec = kit.tiny_recipe(
        "optuna-tpe",
        num_samples=8,
        options={"objectives": ["accuracy"], "n_startup_trials": 2},
        search={
            "latency_budget_ms": LATENCY,
            "gflops_budget": GFLOPS,
            "screen": {"predictor": "flops", "calibration_trials": 3, "max_per_trial": 2},
        },
        name="budgeted",
    )
    out = run_recipe(rec, tmp_path)
    res = out.search
    ran = [t for t in res.trials if t.status != "screened"]
    screened = [t for t in res.trials if t.status == "screened"]
    assert len(ran) == 8 and not res.failed
    assert screened, "the GFLOPs budget rejected nothing on the CPU"
    for t in screened:  # rejected before the GPU: exact sizes or predicted latency
        assert t.metrics["feasible"] == 0 and "accuracy" not in t.metrics
        assert t.metrics.get("gflops", 0) > GFLOPS or "predicted" in t.metrics["infeasible"]
    for t in ran:
        assert t.metrics["gflops"] <= GFLOPS or t.metrics["feasible"] == 0
        if t.status == "ok":  # trained: within the budget as measured
            assert t.metrics["feasible"] == 1 and t.metrics["latency_ms"] <= LATENCY
            assert t.metrics["train_s"] > 0
        else:  # forced through the screen: stopped by its size, never measured nor trained
            assert t.status == "infeasible" and "accuracy" not in t.metrics
            assert "latency_ms" not in t.metrics and t.metrics["infeasible"].startswith("gflops")
    stopped = [t for t in ran if t.status == "infeasible"]
    assert stopped, "no candidate was forced through the screen to its size check"
    best = res.best("accuracy")
    assert best.feasible and best.metrics["latency_ms"] <= LATENCY
    spent = res.summary["budget"]
    assert spent["screened"] == len(screened) and spent["measured"] == 8
    assert spent["measured_infeasible"] == len(stopped)
    assert spent["trained"] == len(res.completed) == 8 - len(stopped)
    assert spent["trained_infeasible"] == 0
    assert spent["seconds"]["saved_by_screen"] > 0 and spent["best_feasible"] == best.trial_id
    assert res.summary["screen"]["predictor"].startswith("FLOPs")

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp = client.get_experiment_by_name("budgeted")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    trials = [r for r in runs if r.data.tags.get("accelsearch.kind") == "trial"]
    by_screen = {"true": [], "false": []}
    for r in trials:
        by_screen[r.data.tags["accelsearch.screened"]].append(r)
    assert len(by_screen["true"]) == len(screened) and len(by_screen["false"]) == 8
    assert all(r.data.tags["accelsearch.feasible"] == "false" for r in by_screen["true"])
    feasible = {r.data.tags["accelsearch.trial_id"] for r in by_screen["false"]
                if r.data.tags["accelsearch.feasible"] == "true"}  # fmt: skip
    assert feasible == {t.trial_id for t in res.completed}
    assert all(r.info.status == "FINISHED" for r in trials)
    search = next(r for r in runs if r.data.tags.get("accelsearch.kind") == "search")
    assert search.data.metrics["candidates_screened"] == len(screened)
    assert search.data.params["budget_latency_ms"] == str(LATENCY)
    summary = (out.output_dir / "summary.md").read_text()
    assert "### Budget" in summary and "saved by the screen" in summary
    assert f"Best feasible trial: `{best.trial_id}`" in summary
