"""Every recipe in recipes/: a header saying what it reproduces and what it needs, valid
against the schema, a clear error when its data is missing, and a CPU smoke run with the
overrides its own header documents (``# CPU smoke test:``), executed as written.

The data a recipe names (CIFAR-10 archives, NATS-Bench's table, timm's results table) is not
shipped; the tests build small stand-ins with the same layout and columns at the same
relative paths (``.data/...``) in a temporary folder and run from there.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import shlex
import tarfile
from pathlib import Path

import pytest
from mlflow_kit import ROOT, worktree_on_pythonpath

from accelsearch.core.errors import ConfigError
from accelsearch.recipe import load_recipe

RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
EXPECTED = {
    "quickstart",
    "efficientnet_x_gpu",
    "gpunet",
    "genet_llr",
    "nb201_utilization_filter",
    "zoo_survey",
    "under_budget_gpu",
}
HEADER_KEYS = ("Reproduces", "Hardware", "Data", "Run", "CPU smoke test")
NB201_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


KEY_LINE = re.compile(r"# (" + "|".join(HEADER_KEYS) + r")\b(.*)")


def header(path: Path) -> dict[str, str]:
    """The leading comment block as ``{key: text}``: a line ``# Key ...`` starts an entry,
    the comment lines after it continue it, an empty ``#`` line ends it."""
    out: dict[str, str] = {}
    key = None
    for line in path.read_text().splitlines():
        if not line.startswith("#"):
            break
        m = KEY_LINE.match(line)
        if m:
            key = m.group(1)
            out[key] = m.group(2).strip()
        elif key and line[1:].strip():
            out[key] += " " + line[1:].strip()
        else:
            key = None
    return out


def smoke_args(path: Path) -> list[str]:
    """The ``accelsearch run`` arguments of the recipe's ``# CPU smoke test`` command."""
    text = header(path)["CPU smoke test"]
    words = shlex.split(text[text.index("accelsearch run") :])
    assert words[:3] == ["accelsearch", "run", f"recipes/{path.name}"], words
    return words[3:]


def smoke_overrides(path: Path) -> list[str]:
    args = smoke_args(path)
    return [v for k, v in zip(args, args[1:]) if k == "--set"]


# -- stand-ins for the data recipes name -------------------------------------------------------
def _image_archive(path: Path, split: str, per_class: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for c, colour in enumerate(("red", "blue")):
            for i in range(per_class):
                buf = io.BytesIO()
                Image.new("RGB", (32, 32), colour).save(buf, "JPEG")
                info = tarfile.TarInfo(f"{split}/class{c}/{i:04d}.jpg")
                info.size = buf.tell()
                buf.seek(0)
                tar.addfile(info, buf)


def _nb201_table(path: Path) -> None:
    """NATS-Bench's columns for all 15,625 cells; accuracies made up (more 3x3 convs, more
    accuracy), which is all a smoke run needs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(
            [
                "ArchitectureString",
                "CIFAR10TestAccuracy200Epochs",
                "CIFAR100TestAccuracy200Epochs",
                "ImageNetTestAccuracy200Epochs",
            ]
        )
        for a, b, c, d, e, f in itertools.product(NB201_OPS, repeat=6):
            cell = f"|{a}~0|+|{b}~0|{c}~1|+|{d}~0|{e}~1|{f}~2|"
            score = sum(op.startswith("nor_conv") for op in (a, b, c, d, e, f))
            w.writerow([cell, 80 + 2 * score, 50 + 3 * score, 25 + 3 * score])


def _timm_table(path: Path, models: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["model", "img_size", "top1", "top1_err", "top5", "top5_err", "param_count"])
        for i, m in enumerate(models):
            top1 = 70.0 + (i % 15)
            w.writerow([m, 224, top1, 100 - top1, 90.0, 10.0, "1,000.5" if i == 0 else 11.7])


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """A working folder holding ``.data/`` as the recipes expect it."""
    import yaml

    root = tmp_path_factory.mktemp("recipes-cwd")
    _image_archive(root / ".data/cifar10/cifar10-train-50k.tar.gz", "train", 3)
    _image_archive(root / ".data/cifar10/cifar10-test-10k.tar.gz", "test", 2)
    _nb201_table(root / ".data/nb201/nats_bench_tss.csv")
    zoo = yaml.safe_load((ROOT / "recipes" / "zoo_survey.yaml").read_text())
    models = list(zoo["space"]["options"]["models"])
    models += re.findall(r"[\w.]+_in1k", " ".join(smoke_args(ROOT / "recipes/zoo_survey.yaml")))
    _timm_table(root / ".data/timm/results-imagenet.csv", sorted(set(models)))
    return root


def _id(path: Path) -> str:
    return path.stem


# -- every recipe -------------------------------------------------------------------------------
def test_the_documented_recipes_are_all_here():
    assert {p.stem for p in RECIPES} == EXPECTED


@pytest.mark.parametrize("path", RECIPES, ids=_id)
def test_header_says_what_it_reproduces_and_needs(path):
    head = header(path)
    for key in HEADER_KEYS:
        assert head.get(key, "").strip(), f"{path.name}: header line '# {key}: ...' is missing"
    assert f"accelsearch run recipes/{path.name}" in head["Run"]
    assert smoke_args(path)  # parses as a command line


@pytest.mark.parametrize("path", RECIPES, ids=_id)
def test_recipe_is_valid(path, data_dir, monkeypatch, capsys):
    from accelsearch.cli import main

    monkeypatch.chdir(data_dir)
    recipe = load_recipe(path)
    assert recipe.name == path.stem
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert load_recipe(path, smoke_overrides(path)).name == path.stem  # so do the overrides


def test_relative_data_paths_become_absolute(data_dir, monkeypatch):
    """Trials run in folders of their own: the recipe carries absolute paths to them."""
    monkeypatch.chdir(data_dir)
    recipe = load_recipe(ROOT / "recipes" / "nb201_utilization_filter.yaml")
    table = data_dir / ".data" / "nb201" / "nats_bench_tss.csv"
    assert recipe.accuracy.options["csv"] == str(table.resolve())
    gpu = load_recipe(ROOT / "recipes" / "genet_llr.yaml").accuracy.options
    assert Path(gpu["dataset"]).is_absolute() and Path(gpu["val_dataset"]).is_absolute()


@pytest.mark.parametrize("path", RECIPES, ids=_id)
def test_missing_data_is_named_before_anything_runs(path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no .data here
    if "none" in header(path)["Data"].lower():
        load_recipe(path)
        return
    with pytest.raises(ConfigError) as exc:
        load_recipe(path)
    msg = str(exc.value)
    assert re.search(r"accuracy\.options\.(dataset|csv): '\.data/[^']+' does not exist", msg), msg


def test_output_paths_need_not_exist_and_become_absolute(tmp_path, monkeypatch):
    from accelsearch.recipe import check_input_paths

    monkeypatch.chdir(tmp_path)
    out = check_input_paths({"log_path": "logs/evals.jsonl", "cache_dir": "c/", "epochs": 2})
    assert out["log_path"] == str(tmp_path / "logs" / "evals.jsonl") and out["epochs"] == 2
    assert Path(out["cache_dir"]).is_absolute()
    with pytest.raises(Exception, match="val_dataset.*does not exist|does not exist"):
        check_input_paths({"val_dataset": "data/val.tar.gz"})


@pytest.fixture(scope="module")
def ray_session():
    import ray

    yield
    ray.shutdown()


def _trial_tag_values(ws, tag: str) -> set[str]:
    """The values of ``tag`` on every trained trial run of the workspace's MLflow store
    (finished, not over a budget); each of them must carry the tag."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{ws / 'mlflow.db'}")
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, "tags.`accelsearch.kind` = 'trial' and status = 'FINISHED'")
    trained = [r for r in runs if r.data.tags.get("accelsearch.feasible") != "false"]
    values = {r.data.tags.get(tag) for r in trained}
    assert trained and None not in values, f"a trained trial run without {tag}"
    return values


@pytest.mark.slow
@pytest.mark.parametrize("path", RECIPES, ids=_id)
def test_smoke_run(path, data_dir, tmp_path, monkeypatch, ray_session):
    """The header's CPU smoke command, as written, on a real Ray Tune search."""
    from accelsearch.cli import main

    monkeypatch.chdir(data_dir)
    worktree_on_pythonpath(monkeypatch)
    ws = tmp_path / "ws"
    assert main(["run", str(path), "--output", str(ws), *smoke_args(path)]) == 0
    run = ws / "latest"
    search = json.loads((run / "search.json").read_text())
    done = [t for t in search["trials"] if t["status"] == "ok"]
    assert done, [t["error"] for t in search["trials"]]
    recipe = load_recipe(path, smoke_overrides(path))
    trains = recipe.accuracy.evaluator == "train"
    for t in done:
        assert {"accuracy", "latency_ms", "params_m", "gflops"} <= set(t["metrics"])
        assert t["metrics"]["latency_backend"].startswith("torch")  # CPU stand-in for all
        if trains:  # which proxy run the accuracy came from, through Ray to search.json
            assert {"proxy_seed", "proxy_unstable", "proxy_retries"} <= set(t["metrics"])
    if trains:
        assert _trial_tag_values(ws, "accelsearch.proxy_unstable") <= {"true", "false"}
    summary = (run / "summary.md").read_text()
    assert summary.startswith(f"# {path.stem}") and "## Search:" in summary
    if recipe.search.confirm.top:  # the best trials trained again before a winner is named
        feasible = [t for t in done if t["metrics"].get("feasible", 1)]
        confirmed = [t for t in feasible if "accuracy_confirmed" in t["metrics"]]
        assert len(confirmed) == min(recipe.search.confirm.top, len(feasible))
        assert search["summary"]["confirm"]["winner_confirmed"] in {
            t["trial_id"] for t in confirmed
        }
        assert "### Confirmed on" in summary
    if recipe.scaling.enabled:
        family = json.loads((run / "family.json").read_text())
        assert len(family["members"]) == 1 + len(recipe.scaling.targets)
        assert "## Family" in summary
    assert (ws / "mlflow.db").exists()
