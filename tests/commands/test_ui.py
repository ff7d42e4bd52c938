"""``accelsearch ui``: loopback unless told otherwise (and then with basic-auth or an explicit
flag and a warning), the members view of the newest family written and printed, and a
SIGTERM that leaves no process serving (a real ``mlflow ui`` with MLflow's basic-auth app)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from mlflow_kit import ROOT, free_port, rest

from accelsearch.cli import main
from accelsearch.pipeline import log_family
from accelsearch.recipe import recipe_from_dict
from accelsearch.tracking import Tracker, default_tracking_uri

sys.path.insert(0, str(ROOT / "tests" / "scaling"))
from lacs_synthetic import compared_family  # noqa: E402

PASSWORD = "a-test-password-1234"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    """A real MLflow store with one LACS family (and its EfficientNet baseline) logged."""
    ws = tmp_path_factory.mktemp("ws")
    recipe = recipe_from_dict(
        {"name": "fam", "space": {"name": "efficientnet_x"}, "reward": {"target_ms": 1.0}}
    )
    tracker = Tracker(default_tracking_uri(ws), "fam", ws / "mlartifacts")
    family = compared_family()
    log_family(tracker, family, recipe, None, ws)
    return ws


def test_beyond_loopback_needs_auth_or_an_explicit_flag(workspace, capsys, monkeypatch):
    ws = str(workspace)
    assert main(["ui", "--output", ws, "--host", "0.0.0.0", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "--host 0.0.0.0 would serve the UI and MLflow's API" in err
    assert "--app-name basic-auth" in err and "--allow-unauthenticated" in err
    assert (
        main(["ui", "--output", ws, "--host", "0.0.0.0", "--allow-unauthenticated", "--dry-run"])
        == 0
    )
    out, err = capsys.readouterr()
    assert "warning: listening on 0.0.0.0:5000 WITHOUT authentication" in err
    assert "--host 0.0.0.0" in out
    assert main(["ui", "--output", ws, "--dry-run"]) == 0  # loopback: no question asked
    out, err = capsys.readouterr()
    assert "--host 127.0.0.1" in out and not err
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    assert (
        main(["ui", "--output", ws, "--host", "0.0.0.0", "--app-name", "basic-auth", "--dry-run"])
        == 2
    )
    assert "export MLFLOW_AUTH_ADMIN_PASSWORD" in capsys.readouterr().err
    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", PASSWORD)
    assert (
        main(["ui", "--output", ws, "--host", "0.0.0.0", "--app-name", "basic-auth", "--dry-run"])
        == 0
    )
    out, err = capsys.readouterr()
    assert "--app-name basic-auth" in out and "MLFLOW_AUTH_CONFIG_PATH=" in out and not err


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (from /proc: Linux)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads the process tree from /proc")
def test_ui_with_basic_auth_shows_the_family_and_sigterm_leaves_nothing_serving(workspace):
    port = free_port()
    env = {**os.environ, "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD, "PYTHONUNBUFFERED": "1"}
    log = workspace / "ui.log"
    cmd = [sys.executable, "-m", "accelsearch", "ui", "--output", str(workspace)]
    cmd += ["--port", str(port), "--app-name", "basic-auth", "--no-browser"]
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while "[ui]   accuracy vs latency_ms chart:" not in log.read_text():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(1)
        printed = log.read_text()
        # the members view: printed, and written where the UI reads it
        members = next(ln for ln in printed.splitlines() if "its members" in ln).split(": ")[-1]
        query = urllib.parse.parse_qs(members.split("?", 1)[1])
        key = query["viewStateShareKey"][0]
        auth = ("admin", PASSWORD)
        exp = rest(url, "/api/2.0/mlflow/experiments/get-by-name", auth=auth, experiment_name="fam")
        tags = {t["key"]: t["value"] for t in exp["experiment"]["tags"]}
        assert tags["mlflow.experimentKind"] == "custom_model_development"
        state = json.loads(json.loads(tags[f"mlflow.sharedViewState.{key}"])["state"])
        assert "tags.`accelsearch.kind` = 'member'" in state["searchFilter"]
        assert state["selectedColumns"] == [
            "metrics.`accuracy`",
            "metrics.`latency_ms`",
            "metrics.`reward`",
            "params.`target_ms`",
        ]
        chart = state["compareRunCharts"][0]
        assert chart["type"] == "SCATTER" and chart["yaxis"]["key"] == "accuracy"
        assert chart["xaxis"]["key"] == "latency_ms"
        assert "family fam-family" in printed  # the LACS family, not its baseline
        # basic-auth: no anonymous writes (the ui without it accepted them)
        with pytest.raises(urllib.error.HTTPError) as refused:
            rest(url, "/api/2.0/mlflow/experiments/create", {"name": "anonymous"})
        assert refused.value.code == 401
        rest(url, "/api/2.0/mlflow/experiments/create", {"name": "by-admin"}, auth=auth)
        serving = _descendants(proc.pid)
        assert len(serving) >= 2  # mlflow ui, its server and workers
    finally:
        proc.send_signal(signal.SIGTERM)  # to accelsearch ui alone, not its process group
        code = proc.wait(timeout=120)
    assert code == 128 + signal.SIGTERM
    time.sleep(1)
    assert not [p for p in serving if _alive(p)], "processes left after SIGTERM"
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/health", timeout=5)
    assert "SIGTERM: stopping the MLflow UI" in log.read_text()
