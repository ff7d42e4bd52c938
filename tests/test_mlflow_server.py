"""The tracking server from ``mlflow_server/start.py``: a run logs to it over HTTP (artifacts
proxied by the server), an offline workspace syncs to it, and the PostgreSQL and basic-auth
options work. Everything is read back through MLflow's REST API with plain HTTP requests."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.error

import pytest
from mlflow_kit import (
    ROOT,
    TINY,
    family_workspace,
    metrics_of,
    params_of,
    rest,
    search_runs,
    start_postgres,
    start_server,
    tags_of,
)

pytestmark = pytest.mark.slow
START = [sys.executable, str(ROOT / "mlflow_server" / "start.py")]
METRICS = {"accuracy", "latency_ms", "reward", "params_m", "gflops"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = start_server(tmp_path_factory.mktemp("mlflow-server"))
    yield s
    s.stop()


def _by_kind(runs: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in runs:
        out.setdefault(tags_of(r)["accelsearch.kind"], []).append(r)
    return out


def _artifact(url: str, run: dict, path: str) -> bytes:
    """An artifact's bytes through the server's artifact proxy (mlflow-artifacts:/...)."""
    uri = run["info"]["artifact_uri"]
    assert uri.startswith("mlflow-artifacts:/"), uri
    return rest(
        url, "/api/2.0/mlflow-artifacts/artifacts/" + uri.split(":/", 1)[1] + "/" + path, raw=True
    )


# -- the script --------------------------------------------------------------------------------
def test_defaults_are_local_sqlite_and_proxied_artifacts(tmp_path):
    out = subprocess.run(
        [*START, "--root", str(tmp_path / "d"), "--dry-run"], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    cmd = out.stdout.split()
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1" and cmd[cmd.index("--port") + 1] == "5000"
    assert cmd[cmd.index("--backend-store-uri") + 1] == f"sqlite:///{tmp_path / 'd' / 'mlflow.db'}"
    assert "--serve-artifacts" in cmd
    assert cmd[cmd.index("--artifacts-destination") + 1] == str(tmp_path / "d" / "mlartifacts")


def test_postgres_and_basic_auth_options(tmp_path):
    args = [*START, "--root", str(tmp_path), "--dry-run", "--app-name", "basic-auth"]
    refused = subprocess.run(args, capture_output=True, text=True, env={"PATH": "/usr/bin"})
    assert refused.returncode == 2 and "MLFLOW_AUTH_ADMIN_PASSWORD" in refused.stderr
    pg = "postgresql://team:secret@db.example:5432/mlflow"
    out = subprocess.run(
        [*args, "--backend-store-uri", pg],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin", "MLFLOW_AUTH_ADMIN_PASSWORD": "a-long-password"},
    )
    assert out.returncode == 0, out.stderr
    assert f"--backend-store-uri {pg}" in out.stdout and "--app-name basic-auth" in out.stdout
    assert f"MLFLOW_AUTH_CONFIG_PATH={tmp_path / 'basic_auth.ini'}" in out.stdout
    no_driver = subprocess.run(
        [*START, "--dry-run", "--backend-store-uri", "postgresql+pg8000://team:secret@db/mlflow"],
        capture_output=True,
        text=True,
    )
    assert no_driver.returncode == 2
    assert "needs the database driver 'pg8000': pip install 'pg8000'" in no_driver.stderr
    assert "secret" not in no_driver.stderr  # the password is not printed


def test_a_busy_port_is_refused_with_the_fix(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run(
            [*START, "--root", str(tmp_path), "--port", str(port)], capture_output=True, text=True
        )
    assert out.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in out.stderr


# -- a run against the server ------------------------------------------------------------------
def test_run_logs_search_and_family_to_the_server(server, tmp_path, capsys):
    import ray

    from accelsearch.cli import main

    ws = tmp_path / "ws"
    sets = [x for s in [*TINY, "tracking.experiment=served"] for x in ("--set", s)]
    try:
        rc = main(
            ["run", str(ROOT / "recipes" / "quickstart.yaml"), "--output", str(ws)]
            + ["--tracking-uri", server.url, *sets]
        )
    finally:
        ray.shutdown()
    assert rc == 0
    assert f"open {server.url} in a browser" in capsys.readouterr().out
    kinds = _by_kind(search_runs(server.url, "served"))
    assert {k: len(v) for k, v in kinds.items()} == {
        "search": 1,
        "trial": 1,
        "family": 1,
        "member": 2,
    }
    search, family = kinds["search"][0], kinds["family"][0]
    trial = kinds["trial"][0]
    assert tags_of(trial)["mlflow.parentRunId"] == search["info"]["run_id"]
    assert METRICS <= set(metrics_of(trial))
    for member in kinds["member"]:
        assert tags_of(member)["mlflow.parentRunId"] == family["info"]["run_id"]
        assert {"alpha", "beta", "gamma", "phi", "target_ms"} <= set(params_of(member))
        assert METRICS <= set(metrics_of(member))
        listed = rest(server.url, "/api/2.0/mlflow/artifacts/list", run_id=member["info"]["run_id"])
        assert "arch.json" in {f["path"] for f in listed["files"]}
        from accelsearch.core.arch import Arch

        arch = Arch.from_json(_artifact(server.url, member, "arch.json").decode())
        assert str(arch) == tags_of(member)["accelsearch.arch"]
    assert _artifact(server.url, family, "family.png")[:4] == b"\x89PNG"
    # the artifacts went through the server into its own folder, not the client's workspace
    assert list((server.root / "mlartifacts").rglob("family.png"))
    assert not (ws / "mlartifacts").exists() and not (ws / "mlflow.db").exists()
    assert (ws / "latest" / "summary.md").read_text().startswith("# quickstart")


# -- offline, then sync --------------------------------------------------------------------------
def test_offline_workspace_syncs_to_the_server(server, capsys):
    from mlflow.tracking import MlflowClient

    from accelsearch.cli import main
    from accelsearch.tracking import default_tracking_uri

    ws = family_workspace()  # two offline runs meant for an unreachable server
    assert json.loads((ws / "sync.json").read_text())["tracking_uri"].startswith("http://")
    with pytest.raises(urllib.error.HTTPError):  # nothing reached the server yet
        search_runs(server.url, "families")
    assert main(["sync", "--output", str(ws), "--tracking-uri", server.url]) == 0
    # two runs, each: search, trial, family, two members
    assert "10 run(s) copied" in capsys.readouterr().out
    remote = search_runs(server.url, "families")
    local = MlflowClient(default_tracking_uri(ws))
    local_runs = local.search_runs([local.get_experiment_by_name("families").experiment_id])
    assert len(remote) == len(local_runs) == 10
    by_source = {tags_of(r)["accelsearch.source_run_id"]: r for r in remote}
    new_id = {src: r["info"]["run_id"] for src, r in by_source.items()}
    for run in local_runs:
        copy = by_source[run.info.run_id]
        tags = tags_of(copy)
        assert tags["accelsearch.kind"] == run.data.tags["accelsearch.kind"]
        assert copy["info"]["run_name"] == run.info.run_name
        assert copy["info"]["status"] == run.info.status
        assert params_of(copy) == run.data.params
        assert metrics_of(copy) == pytest.approx(run.data.metrics)
        parent = run.data.tags.get("mlflow.parentRunId")
        assert tags.get("mlflow.parentRunId") == (new_id[parent] if parent else None)
        for key in run.data.metrics:
            history = rest(
                server.url,
                "/api/2.0/mlflow/metrics/get-history",
                run_id=copy["info"]["run_id"],
                metric_key=key,
            )["metrics"]
            expected = local.get_metric_history(run.info.run_id, key)
            assert [(m["step"], m["value"]) for m in history] == [
                (m.step, pytest.approx(m.value)) for m in expected
            ]
        local_files = sorted(f.path for f in local.list_artifacts(run.info.run_id))
        listed = rest(server.url, "/api/2.0/mlflow/artifacts/list", run_id=copy["info"]["run_id"])
        assert sorted(f["path"] for f in listed.get("files", [])) == local_files
    trials = [r for r in local_runs if r.data.tags["accelsearch.kind"] == "trial"]
    assert any(len(local.get_metric_history(t.info.run_id, "accuracy")) == 2 for t in trials)
    assert main(["sync", "--output", str(ws), "--tracking-uri", server.url]) == 0
    assert "0 run(s) copied, 10 already there" in capsys.readouterr().out
    assert len(search_runs(server.url, "families")) == 10


# -- the options for a shared server ---------------------------------------------------------------
def _log_small_search(uri: str, experiment: str) -> tuple[str, str]:
    from accelsearch.tracking import Tracker

    tracker = Tracker(uri, experiment)
    search = tracker.start_run("search", "s", params={"space": "efficientnet_x"})
    trial = tracker.start_run("trial", "t", parent_id=search, params={"width": 3})
    tracker.log_metrics(trial, {"accuracy": 50.0, "latency_ms": 1.5}, step=1)
    tracker.log_text(trial, '{"resolution": 32}', "arch.json")
    tracker.end_run(trial)
    tracker.end_run(search)
    return search, trial


def test_postgresql_backend_store(tmp_path):
    try:
        pg = start_postgres()
    except RuntimeError as exc:
        pytest.skip(f"PostgreSQL cannot start here: {exc}")
    server = None
    try:
        server = start_server(tmp_path / "pg-server", "--backend-store-uri", pg.uri)
        search, trial = _log_small_search(server.url, "pg")
        runs = {r["info"]["run_id"]: r for r in search_runs(server.url, "pg")}
        assert tags_of(runs[trial])["mlflow.parentRunId"] == search
        assert metrics_of(runs[trial]) == {"accuracy": 50.0, "latency_ms": 1.5}
        assert _artifact(server.url, runs[trial], "arch.json") == b'{"resolution": 32}'
        count = subprocess.run(
            [str(pg.bindir / "psql"), "-h", "127.0.0.1", "-p", str(pg.port), "-U", "postgres"]
            + ["-d", "mlflow", "-tAc", "select count(*) from runs"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert count.stdout.strip() == "2", count.stderr  # the runs live in PostgreSQL
    finally:
        if server is not None:
            server.stop()
        pg.stop()


def test_basic_auth_server(tmp_path, monkeypatch):
    from accelsearch.core.errors import ConfigError
    from accelsearch.tracking import check_reachable

    admin = ("admin", "admin-test-password-1")
    server = start_server(
        tmp_path / "auth-server",
        "--app-name",
        "basic-auth",
        env={"MLFLOW_AUTH_ADMIN_PASSWORD": admin[1]},
    )
    try:
        monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
        monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
        with pytest.raises(ConfigError, match="asks for a user name and password"):
            check_reachable(server.url)
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", admin[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
        with pytest.raises(ConfigError, match="user 'admin' was refused"):
            check_reachable(server.url)
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", admin[1])
        search, trial = _log_small_search(server.url, "shared")
        with pytest.raises(urllib.error.HTTPError) as exc:
            search_runs(server.url, "shared")
        assert exc.value.code == 401
        # a second user reads the team's runs (default permission READ) but cannot write them
        rest(
            server.url,
            "/api/2.0/mlflow/users/create",
            {"username": "bob", "password": "bob-test-password-1"},
            auth=admin,
        )
        bob = ("bob", "bob-test-password-1")
        assert {r["info"]["run_id"] for r in search_runs(server.url, "shared", auth=bob)} == {
            search,
            trial,
        }
        with pytest.raises(urllib.error.HTTPError) as exc:
            rest(
                server.url,
                "/api/2.0/mlflow/runs/log-metric",
                {"run_id": trial, "key": "x", "value": 1.0, "timestamp": 0},
                auth=bob,
            )
        assert exc.value.code == 403
    finally:
        server.stop()
