"""Searches on a real local Ray cluster, tracked in a real MLflow SQLite store.

* a build error in some archs and a worker that dies once: failed trials are recorded with
  their error text in MLflow, the dead worker's trial is retried (``max_failures``), and the
  search goes on (a pymoo search with two trials at a time);
* ASHA stops trials whose early epochs are poor;
* every strategy drives the same trial function through Ray Tune.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import search_testkit as kit
from mlflow.tracking import MlflowClient

from accelsearch.pipeline import run_recipe
from accelsearch.search.settings import cpu_threads, usable_cores

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def ray_cluster():
    import ray

    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024**2)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """One workspace (one MLflow store) for the module's searches: each recipe name is its
    own MLflow experiment there."""
    return tmp_path_factory.mktemp("ws")


def _runs(workspace: Path, experiment: str):
    client = MlflowClient(f"sqlite:///{workspace / 'mlflow.db'}")
    exp = client.get_experiment_by_name(experiment)
    return client, client.search_runs([exp.experiment_id])


def test_failed_trials_are_recorded_and_a_dead_worker_is_retried(tmp_path, ws):
    marker = tmp_path / "killed-once"
    rec = kit.tiny_recipe(
        "pymoo-nsga2",
        num_samples=8,
        space="search_flaky",  # width 12 fails to build
        objectives=["accuracy", "latency_ms"],
        options={"pop_size": 4},
        evaluator_options={"kill_marker": str(marker)},  # the first evaluation kills its worker
        search={"max_concurrent": 2, "max_failures": 1},
        name="faults",
    )
    out = run_recipe(rec, ws)
    res = out.search
    assert marker.exists()  # a worker really died
    assert len(res.trials) == 8
    build_failures = [t for t in res.failed if "width 12 is not buildable" in (t.error or "")]
    assert build_failures and len(res.failed) == len(build_failures)
    assert all(t.params["width"] == 12 for t in build_failures)
    assert all(t.params["width"] != 12 for t in res.completed)
    assert len(res.completed) == 8 - len(build_failures)  # including the retried trial

    client, runs = _runs(ws, "faults")
    trials = [r for r in runs if r.data.tags.get("accelsearch.kind") == "trial"]
    assert len(trials) == 8
    failed = [r for r in trials if r.info.status == "FAILED"]
    assert len(failed) == len(build_failures)
    for r in failed:
        assert "width 12 is not buildable" in r.data.tags["accelsearch.error"]
        text = client.download_artifacts(r.info.run_id, "error.txt", str(tmp_path))
        assert "ArchError" in Path(text).read_text()  # the traceback
    finished = [r for r in trials if r.info.status == "FINISHED"]
    assert {"accuracy", "latency_ms", "reward", "params_m", "gflops"} <= set(
        finished[0].data.metrics
    )
    assert any(r.data.tags.get("accelsearch.restarted") == "true" for r in finished)
    search_run = next(r for r in runs if r.data.tags.get("accelsearch.kind") == "search")
    assert search_run.data.metrics["trials_failed"] == len(build_failures)


def test_asha_stops_trials_with_poor_early_epochs(ws):
    rec = kit.tiny_recipe(
        "sobol",
        num_samples=8,
        evaluator_options={"epochs": 4, "bad_width": 4},  # width 4 learns slowly
        search={"scheduler": {"name": "asha", "grace_period": 1, "reduction_factor": 2}},
        options={"objectives": ["accuracy"]},
        name="asha",
    )
    res = run_recipe(rec, ws).search
    epochs = {t.trial_id: t.metrics["epoch"] for t in res.completed}
    assert len(epochs) == 8
    stopped = [t for t in res.completed if t.metrics["epoch"] < 4]
    assert stopped, f"ASHA stopped no trial: {epochs}"
    assert any(e == 4 for e in epochs.values())
    # the slow learner (width 4) is among the stopped trials
    assert any(t.params["width"] == 4 for t in stopped)


# Through Ray Tune: Optuna's OptunaSearch (one and two objectives) and the ask/tell adapter
# (stratified, LLR, which ends by itself); pymoo and Sobol ran above. The adapter is one
# class for every ask/tell strategy, each of which test_strategies.py drives directly.
@pytest.mark.parametrize(
    "name,options,objectives",
    [
        ("optuna-tpe", {}, ["reward"]),  # on the flaky space: failures with one objective
        ("optuna-nsga3", {"population_size": 2}, ["accuracy", "latency_ms"]),
        ("stratified", {"candidates": 16, "bins": 2, "predictor": "flops"}, ["accuracy"]),
        ("llr", {"steps": [1], "latency_budget_ms": 1000.0}, ["accuracy"]),
    ],
)
def test_strategies_drive_the_trial_function(ws, name, options, objectives):
    n = 8 if name == "llr" else 4  # LLR stops by itself after start + perturbations + verify
    flaky = name == "optuna-tpe"
    rec = kit.tiny_recipe(
        name,
        num_samples=n,
        objectives=objectives,
        options=options,
        name=name.replace("-", "_"),
        space="search_flaky" if flaky else "search_tiny",
        search={"resumable": name != "optuna-nsga3"},  # one run without result checkpoints
    )
    res = run_recipe(rec, ws).search
    assert 1 <= len(res.completed) <= n
    assert all("width 12" in t.error for t in res.failed) and (flaky or not res.failed)
    assert len(res.trials) == (n if name != "llr" else len(res.trials))
    for t in res.completed:
        assert t.metrics["latency_backend"].startswith("torch")
        assert t.arch == kit.TinySpace().decode(t.params)
    if name in ("stratified", "llr"):
        assert res.summary["strategy"] == name
    if name == "llr":  # start, one perturbation per ordered stage parameter, verification
        assert len(res.completed) == 1 + 2 + 1 < n
        assert res.summary["rounds"][0]["verified_accuracy"] is not None


def test_auto_runs_and_records_the_strategy_it_chose(ws):
    """``search.strategy: auto`` (the default) is resolved before the search and recorded as
    what it chose: printed, in recipe.json (what resume loads), search.json and the MLflow
    search run's strategy tag."""
    lines: list[str] = []
    rec = kit.tiny_recipe("auto", num_samples=2, objectives=["accuracy", "latency_ms"], name="auto")
    out = run_recipe(rec, ws, printer=lambda *a, **k: lines.append(" ".join(map(str, a))))
    assert any(line.startswith("[search] strategy auto: optuna-tpe (") for line in lines)
    assert json.loads((out.output_dir / "recipe.json").read_text())["search"]["strategy"] == (
        "optuna-tpe"
    )
    assert json.loads((out.output_dir / "search.json").read_text())["strategy"] == "optuna-tpe"
    assert out.search.strategy == "optuna-tpe" and len(out.search.completed) == 2
    _, runs = _runs(ws, "auto")
    (search_run,) = [r for r in runs if r.data.tags.get("accelsearch.kind") == "search"]
    assert search_run.data.tags["accelsearch.strategy"] == "optuna-tpe"


def test_a_trial_given_every_core_leaves_one_to_ray_and_the_driver(tmp_path, ws):
    """A trial given all the cluster's CPUs (2, as the quickstart asks on a 2-core machine)
    trains and times with at most the machine's cores less one: with as many OpenMP threads
    as cores, Ray's processes and the driver stalled every operator (the quickstart's
    latencies were 5-50x too high). On a 2-core machine this is 1 thread, not 2."""
    log = tmp_path / "evaluations.jsonl"
    rec = kit.tiny_recipe(
        num_samples=1,
        evaluator_options={"epochs": 1, "log_path": str(log)},
        search={"cpus_per_trial": 2},
        name="threads",
    )
    res = run_recipe(rec, ws).search
    expected = max(1, min(2, usable_cores() - 1))
    assert cpu_threads(2) == expected
    (trial,) = res.completed
    assert json.loads(log.read_text())["torch_threads"] == expected  # training
    assert trial.metrics["latency_device"].endswith(f"torch threads {expected})")  # timing


def test_roofline_hook_reports_intensity_and_utilisation(monkeypatch):
    """The trial reports the roofline module's intensity and utilisation. Until
    ``objectives/roofline.py`` (latency branch) is merged, a stand-in with its documented
    ``efficiency_metrics(model, latency_result, num_classes=...)`` signature is used."""
    import importlib
    import sys
    import types

    from accelsearch.recipe_settings import trial_context
    from accelsearch.search.trial import evaluate_arch

    try:
        importlib.import_module("accelsearch.objectives.roofline")
    except ImportError:
        fake = types.ModuleType("accelsearch.objectives.roofline")
        fake.efficiency_metrics = lambda model, result, num_classes=1000: {
            "intensity": 12.5,
            "utilisation": 0.25,
            "efficiency": 0.5,
        }
        monkeypatch.setitem(sys.modules, "accelsearch.objectives.roofline", fake)
    rec = kit.tiny_recipe("random")
    space = kit.TinySpace()
    out = evaluate_arch(trial_context(rec, space), space.sample_arch(0))
    assert out["intensity"] > 0 and 0 < out["utilisation"] <= 1


def test_resume_of_a_search_stopped_before_tunes_first_snapshot_starts_it_again(ws):
    """A node taken back while Ray Tune started (no snapshot yet, so no trial had finished:
    a finished trial forces one) is resumed by starting the search again in its folder."""
    from accelsearch.pipeline import resume_run

    out = run_recipe(kit.tiny_recipe("random", num_samples=3, name="early-stop"), ws)
    run_dir = out.output_dir
    state = json.loads((run_dir / "search_state.json").read_text())
    (run_dir / "search.json").unlink()
    experiment = Path(state["experiment_path"])
    for snapshot in experiment.glob("experiment_state*.json"):
        snapshot.unlink()  # as if the driver died before Tune wrote one

    again = resume_run(run_dir)
    assert len(again.search.trials) == 3
    assert list(experiment.parent.glob(f"{experiment.name}.incomplete-*"))  # moved aside
    after = json.loads((run_dir / "search_state.json").read_text())
    assert after["search_run_id"] == state["search_run_id"] and after["resumes"] == 1
    _, runs = _runs(ws, "early-stop")
    assert len([r for r in runs if r.data.tags.get("accelsearch.kind") == "search"]) == 1
