"""Baselines for real, on the CPU: a whole run with a ``baselines`` section (Ray Tune search,
LACS, then two tiny timm models measured and proxy-trained like the members), then
``accelsearch compare`` on that run: resumable, MLflow child runs of the family run tagged
``accelsearch.kind = baseline``, the summary section, the plot, and bad input failing before
anything is measured."""

from __future__ import annotations

import json

import pytest

from accelsearch import baselines_measure as measure
from accelsearch import baselines_preflight as preflight
from accelsearch.baselines_compare import compare_run
from accelsearch.cli import main
from accelsearch.core.errors import ConfigError
from accelsearch.pipeline import run_recipe
from accelsearch.recipe import recipe_from_dict
from accelsearch.tracking import KIND_TAG, Tracker

BASELINES = ["resnet10t", "mobilenetv3_small_050"]


def tiny_recipe(name: str = "bl", **baselines) -> dict:
    return {
        "name": name,
        "num_classes": 10,
        "space": {
            "name": "efficientnet_x",
            "options": {"width_mult": 0.25, "resolutions": [32], "depth_deltas": [-1, 0]},
        },
        "latency": {
            "backend": "torch",
            "device": "cpu",
            "batch_size": 2,
            "protocol": {"warmup": 1, "min_reps": 3, "max_reps": 10, "max_seconds": 0.2},
        },
        "accuracy": {
            "evaluator": "train",
            "options": {
                "dataset": "digits",
                "epochs": 1,
                "data_fraction": 0.2,
                "resolution_scale": 1.0,
                "threads": 1,
            },
        },
        "reward": {"target_ms": 3.0},
        "search": {"strategy": "random", "num_samples": 1, "cpus_per_trial": 1},
        "scaling": {
            "grid": [[1.0, 1.2, 1.2]],
            "targets": [1.5],
            "tolerance": 0.3,
            "max_measurements": 3,
        },
        "baselines": baselines,
    }


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    import ray

    ws = tmp_path_factory.mktemp("ws")
    recipe = recipe_from_dict(tiny_recipe(models=BASELINES[:1], resolution=32))
    try:
        outcome = run_recipe(recipe, ws)
    finally:
        ray.shutdown()
    return outcome


def _runs(outcome, kind: str):
    tracker = Tracker(outcome.tracking_uri, "bl")
    return tracker.client.search_runs(
        [tracker.experiment_id], f"tags.`{KIND_TAG}` = '{kind}'", max_results=100
    )


@pytest.mark.slow
def test_run_measures_the_section_after_the_family(run):
    out = run.output_dir
    doc = json.loads((out / "baselines.json").read_text())
    (entry,) = doc["entries"]
    assert entry["model"] == "resnet10t" and entry["status"] == "ok"
    assert entry["resolution"] == 32 and entry["train_resolution"] == 32
    for key in ("accuracy", "latency_ms", "params_m", "gflops"):
        assert entry[key] > 0
    assert entry["latency"]["batch_size"] == 2 and entry["latency"]["precision"] == "fp32"
    assert entry["imagenet"]["table_model"] == "resnet10t.c3_in1k"
    assert doc["comparison"]["family"]["members"] == [m.name for m in run.family.members]
    assert (out / "family_vs_baselines.png").stat().st_size > 10_000
    summary = (out / "summary.md").read_text()
    assert (
        "## Baselines beside the family" in summary and "| resnet10t | resnet10t | 32 |" in summary
    )
    assert "68.35" in summary  # resnet10t's published top-1 beside its proxy accuracy
    assert summary.index("## Family") < summary.index("## Baselines")


@pytest.mark.slow
def test_baselines_are_child_runs_of_the_family_with_the_members_metrics(run):
    (family_run,) = _runs(run, "family")
    (baseline,) = _runs(run, "baseline")
    assert baseline.data.tags["mlflow.parentRunId"] == family_run.info.run_id
    assert baseline.info.run_name == "resnet10t" and baseline.info.status == "FINISHED"
    member = _runs(run, "member")[0]
    shared = {"accuracy", "latency_ms", "params_m", "gflops", "reward"}
    assert shared <= set(member.data.metrics) and shared <= set(baseline.data.metrics)
    assert baseline.data.metrics["imagenet_top1"] == pytest.approx(68.354)
    for tag in ("latency_backend", "latency_device", "latency_precision", "latency_batch_size"):
        assert baseline.data.tags[f"accelsearch.{tag}"] == member.data.tags[f"accelsearch.{tag}"]
    assert baseline.data.params["resolution"] == "32"
    family = json.loads((run.output_dir / "family.json").read_text())
    assert family["mlflow_run_id"] == family_run.info.run_id


@pytest.mark.slow
def test_compare_measures_only_what_is_missing(run, monkeypatch):
    out = run.output_dir
    before = json.loads((out / "baselines.json").read_text())["entries"][0]
    measured = []
    real = measure.evaluate_arch
    monkeypatch.setattr(
        measure,
        "evaluate_arch",
        lambda ctx, arch, **kw: measured.append(str(arch)) or real(ctx, arch, **kw),
    )
    built = []
    real_run_at = preflight._run_at
    monkeypatch.setattr(
        preflight, "_run_at", lambda name, *a: built.append(name) or real_run_at(name, *a)
    )
    outcome = compare_run(out, models=BASELINES, resolution=32)
    assert outcome.measured == 1 and len(measured) == 1 and "mobilenetv3_small_050" in measured[0]
    assert built == ["mobilenetv3_small_050"]  # the measured model is not checked again
    assert outcome.logged == 1  # resnet10t was logged by the run already
    entries = {e["model"]: e for e in outcome.entries}
    assert entries["resnet10t"]["measured_at"] == before["measured_at"]
    assert len(_runs(run, "baseline")) == 2

    again = compare_run(out, models=BASELINES, resolution=32)  # a resumed piece
    assert again.measured == 0 and again.logged == 0 and len(measured) == 1
    assert len(_runs(run, "baseline")) == 2
    summary = (out / "summary.md").read_text()
    assert summary.count("## Baselines beside the family") == 1  # replaced, not appended
    assert "mobilenetv3_small_050" in summary


@pytest.mark.slow
def test_a_family_run_missing_from_family_json_is_found_by_its_tags(run):
    out = run.output_dir
    path = out / "family.json"
    family = json.loads(path.read_text())
    family_id, family["mlflow_run_id"] = family["mlflow_run_id"], None
    path.write_text(json.dumps(family))
    outcome = compare_run(out, models=BASELINES[:1], resolution=32)
    assert outcome.measured == 0
    assert json.loads(path.read_text())["mlflow_run_id"] == family_id
    assert len(_runs(run, "family")) == 1 and len(_runs(run, "baseline")) == 2


@pytest.mark.slow
def test_a_failing_baseline_is_recorded_and_the_others_go_on(run, monkeypatch):
    real = measure.evaluate_arch

    def flaky(ctx, arch, **kw):
        if "resnet14t" in str(arch):
            raise RuntimeError("CUDA out of memory (simulated)")
        return real(ctx, arch, **kw)

    monkeypatch.setattr(measure, "evaluate_arch", flaky)
    outcome = compare_run(
        run.output_dir, models=["resnet14t", "resnet10t"], accuracy=False, resolution=32
    )
    entries = {e["model"]: e for e in outcome.entries}
    assert entries["resnet14t"]["status"] == "failed"
    assert "out of memory" in entries["resnet14t"]["error"]
    assert entries["resnet10t"]["status"] == "ok" and "accuracy" not in entries["resnet10t"]
    failed = [r for r in _runs(run, "baseline") if r.info.status == "FAILED"]
    assert [r.info.run_name for r in failed] == ["resnet14t"]
    assert "out of memory" in failed[0].data.tags["accelsearch.error"]
    assert "resnet14t" in (run.output_dir / "summary.md").read_text()


def test_compare_on_a_run_without_family_fails_before_measuring(tmp_path, monkeypatch):
    raw = tiny_recipe()
    raw.pop("baselines")
    run_dir = tmp_path / "bl-20260101-000000"
    run_dir.mkdir()
    (run_dir / "recipe.json").write_text(json.dumps(raw))
    monkeypatch.setattr(measure, "evaluate_arch", pytest.fail)
    with pytest.raises(ConfigError, match="has no family.*search has not finished.*resume"):
        compare_run(run_dir, models=["resnet10t"])
    raw["scaling"] = {"enabled": False}
    (run_dir / "recipe.json").write_text(json.dumps(raw))
    with pytest.raises(ConfigError, match="scaling disabled"):
        compare_run(run_dir, models=["resnet10t"])
    assert not (run_dir / "baselines.json").exists()
    with pytest.raises(ConfigError, match="not a run folder"):
        compare_run(tmp_path / "nowhere", models=["resnet10t"])


def test_compare_command_on_a_folder_that_is_no_run(tmp_path, capsys):
    assert main(["compare", str(tmp_path), "--baselines", "resnet10t"]) == 2
    assert "not a run folder" in capsys.readouterr().err


@pytest.mark.slow
def test_compare_command_lists_close_matches_of_an_unknown_name(run, capsys, monkeypatch):
    monkeypatch.setattr(measure, "evaluate_arch", pytest.fail)
    assert main(["compare", str(run.output_dir), "--baselines", "resnet10tt,gernet_s"]) == 2
    err = capsys.readouterr().err
    assert "--baselines: timm has no model 'resnet10tt'" in err
    assert "close matches: resnet10t" in err


def test_run_with_a_baseline_that_cannot_follow_the_proxy_fails_before_the_search(tmp_path):
    raw = tiny_recipe(models=["levit_128", "resnet10t"])
    raw["accuracy"]["options"]["resolution_scale"] = 0.25
    with pytest.raises(ConfigError, match="'levit_128' cannot follow the proxy's resolution"):
        run_recipe(recipe_from_dict(raw), tmp_path)
    assert not list(tmp_path.glob("bl-*")), "no run folder: nothing ran"
