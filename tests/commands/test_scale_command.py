"""``accelsearch scale``: from an arch file and from an MLflow run (real store, real
measurement on the CPU, real proxy training on the bundled digits), and its bad input."""

from __future__ import annotations

import json

import pytest

from accelsearch.cli import main
from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.tracking import KIND_TAG, Tracker, default_tracking_uri

FAST = [
    "--device",
    "cpu",
    "--batch-size",
    "2",
    "--epochs",
    "1",
    "--set",
    "num_classes=10",
    "--set",
    "accuracy.options.data_fraction=0.2",
    "--set",
    "accuracy.options.batch_size=128",
    "--set",
    "latency.protocol={warmup: 2, min_reps: 5, max_reps: 40, max_seconds: 0.2}",
]


def tiny_arch() -> Arch:
    return Arch(
        resolution=16,
        stem=Stage("conv", width=8, stride=2),
        stages=(
            Stage("mbconv", width=8, depth=1, kernel=3, stride=1),
            Stage("mbconv", width=16, depth=1, kernel=3, stride=2, expansion=3),
        ),
        head=Head(width=32),
    )


def test_scale_from_an_arch_file_with_comparison_and_onnx(tmp_path, capsys):
    base = tmp_path / "base.json"
    base.write_text(tiny_arch().to_json())
    ws = tmp_path / "ws"
    code = main(
        ["scale", "--base", str(base), "--targets", "x2", "--grid", "1.2,1.1,1.15;1.4,1.0,1.0"]
        + ["--tolerance", "0.1", "--compare", "efficientnet", "--compare-phi", "flops"]
        + ["--onnx", "--no-mlflow", "--output", str(ws), "--name", "tiny"]
        + FAST
    )
    assert code == 0
    run_dir = ws / "latest"
    family = json.loads((run_dir / "family.json").read_text())
    assert family["name"] == "tiny" and len(family["members"]) == 2
    assert family["settings"]["space"] == "generic"
    assert len(family["grid"]) == 2
    assert family["baseline"]["settings"]["phi_from"] == "flops"
    for m in family["members"]:  # the roofline fills intensity and utilisation
        assert m["intensity"] > 0 and 0 < m["utilisation"] < 1
    assert family["comparison"][0]["target_ms"] == family["members"][1]["target_ms"]
    assert sorted(p.name for p in (run_dir / "onnx").iterdir()) == ["tiny-0.onnx", "tiny-1.onnx"]
    assert (run_dir / "family.png").exists() and "lacs vs efficientnet" in (
        run_dir / "summary.md"
    ).read_text()
    assert "Family tiny" in capsys.readouterr().out


def test_scale_from_an_mlflow_trial_run(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    tracker = Tracker(default_tracking_uri(ws), "searches", ws / "mlartifacts")
    recipe = {
        "name": "searched",
        "space": {"name": "efficientnet_x"},
        "accuracy": {"evaluator": "train", "options": {"dataset": "digits", "epochs": 1}},
        "reward": {"target_ms": 1.0, "w": -0.07},
    }
    search = tracker.start_run("search", "searched", tags={"accelsearch.space": "efficientnet_x"})
    tracker.log_text(search, json.dumps(recipe), "recipe.json")
    trial = tracker.start_run("trial", "t0", parent_id=search)
    tracker.log_text(trial, tiny_arch().to_json(), "arch.json")
    tracker.log_metrics(trial, {"accuracy": 42.0, "latency_ms": 0.5})
    for run in (trial, search):
        tracker.end_run(run)

    code = main(
        ["scale", "--from-run", trial, "--output", str(ws), "--targets", "x1.8"]
        + ["--grid", "1.2,1.1,1.15", "--tolerance", "0.1"]
        + FAST
    )
    assert code == 0
    family = json.loads((ws / "latest" / "family.json").read_text())
    assert family["name"] == "searched"  # the search's recipe
    assert family["members"][0]["accuracy"] == 42.0  # the trial's, not re-evaluated
    assert family["settings"]["reward_w"] == -0.07
    experiments = [e.experiment_id for e in tracker.client.search_experiments()]
    runs = tracker.client.search_runs(experiments, max_results=100)
    fam = [r for r in runs if r.data.tags.get(KIND_TAG) == "family"]
    assert len(fam) == 1
    assert fam[0].data.tags["accelsearch.base_run_id"] == trial
    assert fam[0].data.tags["accelsearch.search_run_id"] == search
    members = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == fam[0].info.run_id]
    assert len(members) == 2
    assert family["mlflow_run_id"] == fam[0].info.run_id


@pytest.mark.parametrize(
    "args, message",
    [
        (["--targets", "x2", "--grid", "0.9,1,1"], "alpha=0.9 is below 1"),
        (["--targets", "x2", "--grid", "1.2,1.1"], "three numbers"),
        (["--targets", "fast"], "neither milliseconds"),
        (["--targets", "x0.8"], "not above the base latency"),
        (["--targets", "0.00001"], "is not above the base model's"),
        (
            ["--targets", "x1000", "--grid", "1.2,1.1,1.15", "--max-multiplier", "1.5"],
            "largest reachable",
        ),
        (["--targets", "x2", "--space", "nope"], "unknown space 'nope'"),
    ],
)
def test_bad_input_gives_clear_errors(tmp_path, capsys, args, message):
    base = tmp_path / "base.json"
    base.write_text(tiny_arch().to_json())
    code = main(
        ["scale", "--base", str(base), "--no-mlflow", "--output", str(tmp_path)] + args + FAST
    )
    assert code == 2
    assert message in capsys.readouterr().err


def test_missing_base_and_unknown_run(tmp_path, capsys):
    assert main(["scale", "--base", str(tmp_path / "nope.json"), "--targets", "x2"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["scale", "--from-run", "abc", "--output", str(tmp_path), "--targets", "x2"]) == 2
    assert "no MLflow store" in capsys.readouterr().err


def test_a_recipe_file_is_read_as_carefully_as_by_run(tmp_path, capsys):
    base = tmp_path / "base.json"
    base.write_text(tiny_arch().to_json())
    recipe = tmp_path / "r.yaml"
    recipe.write_text("name: a\nreward: {target_ms: 1.0}\nname: b\n")
    args = ["scale", "--base", str(base), "--targets", "x2", "--recipe", str(recipe)]
    assert main(args + ["--no-mlflow", "--output", str(tmp_path)]) == 2
    assert "found key 'name' a second time (first on line 1)" in capsys.readouterr().err
    recipe.write_bytes(b"name: caf\xe9\n")
    assert main(args + ["--no-mlflow", "--output", str(tmp_path)]) == 2
    assert "line 1, column 10: byte 0xe9 is not UTF-8" in capsys.readouterr().err
