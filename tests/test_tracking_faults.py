"""Tracking under faults: stores that refuse us, two runs creating one store at once, and a
tracking server killed in the middle of a run (it goes on offline, then syncs back).

The servers are real (``mlflow_server/start.py``, with the basic-auth app where a read-only
user is needed) and the run is real (Ray Tune, the tiny test space of ``tests/search``, LACS).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from mlflow_kit import ROOT, free_port, rest, search_runs, start_server, tags_of

from accelsearch.core.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parent / "search"))
import search_testkit as kit  # noqa: E402

RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    sys.path.insert(0, sys.argv[3])
    from accelsearch.tracking import Tracker, default_tracking_uri

    ws, go = Path(sys.argv[1]), Path(sys.argv[2])
    Path(sys.argv[4]).touch()  # imported: ready
    while not go.exists():
        time.sleep(0.002)
    tracker = Tracker(default_tracking_uri(ws), "race", ws / "mlartifacts")
    run = tracker.start_run("search", "s")
    tracker.end_run(run)
    print("ok", tracker.experiment_id)
    """
)


@pytest.mark.slow
def test_runs_started_at_once_in_a_new_workspace_all_create_the_store(tmp_path):
    """Three processes released at the same instant into one fresh workspace: without the
    store lock, MLflow's migration of the new SQLite store races itself (``table ...
    already exists``, ``duplicate column name``) and all but one die."""
    script = tmp_path / "racer.py"
    script.write_text(RACER)
    ws, go = tmp_path / "ws", tmp_path / "go"
    ready = [tmp_path / f"ready{k}" for k in range(3)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(ws), str(go), str(ROOT), str(flag)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 120
    while not all(f.exists() for f in ready) and time.monotonic() < deadline:
        time.sleep(0.05)
    go.touch()  # all imported: go together
    outs = [p.communicate(timeout=300) for p in procs]
    failed = [err[-800:] for (out, err), p in zip(outs, procs) if p.returncode != 0]
    assert not failed, failed
    assert [out.strip() for out, _ in outs] == ["ok 1"] * 3  # one experiment, made once


def test_an_experiment_made_by_another_run_a_moment_ago_is_used(tmp_path, monkeypatch):
    """Two runs that both find no experiment and both create it (on a server, or a retried
    request): the second one uses the first one's instead of failing."""
    from mlflow.tracking import MlflowClient

    from accelsearch.tracking import Tracker, default_tracking_uri

    uri = default_tracking_uri(tmp_path)
    first = Tracker(uri, "shared", tmp_path / "mlartifacts")
    looked = []
    real = MlflowClient.get_experiment_by_name

    def not_yet_then_there(self, name):
        looked.append(name)
        return None if len(looked) == 1 else real(self, name)

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", not_yet_then_there)
    second = Tracker(uri, "shared", tmp_path / "mlartifacts")
    assert second.experiment_id == first.experiment_id and len(looked) == 2


def test_a_postgresql_store_that_refuses_connections_fails_in_seconds(tmp_path, capsys):
    from accelsearch.cli import main

    ws = tmp_path / "ws"
    uri = f"postgresql://mlflow:secret-pw@127.0.0.1:{free_port()}/mlflow"
    t0 = time.monotonic()
    rc = main(["run", str(ROOT / "recipes" / "quickstart.yaml"), "--output", str(ws)] + [
        "--tracking-uri",
        uri,
    ])  # fmt: skip
    took = time.monotonic() - t0
    err = capsys.readouterr().err
    assert rc == 2 and took < 15, (rc, took, err)
    assert "database store 'postgresql://mlflow:***@127.0.0.1:" in err
    assert "cannot be reached" in err and "Connection refused" in err
    assert "secret-pw" not in err
    assert not ws.exists()  # no workspace, no run folder, no trial


def test_a_database_store_without_its_driver_names_the_package():
    from accelsearch.tracking import check_database

    with pytest.raises(ConfigError, match="needs the driver 'MySQLdb'.*pip install"):
        check_database("mysql://u:p@/db")  # no host: straight to the driver


def test_only_a_server_that_does_not_answer_counts_as_gone():
    from mlflow.exceptions import MlflowException, RestException

    from accelsearch.tracking_failover import server_is_gone

    url = "http://127.0.0.1:5000/api/2.0/mlflow/runs/log-batch"
    refused = f"API request to {url} failed with exception HTTPConnectionPool(...): Max retries"
    assert server_is_gone(MlflowException(refused))
    assert server_is_gone(MlflowException(f"API request to {url} failed with timeout exception"))
    try:
        raise MlflowException("wrapped") from ConnectionResetError(104, "reset")
    except MlflowException as exc:
        assert server_is_gone(exc)
    denied = f"API request to {url} failed with error code 403 != 200. Response body: 'no'"
    assert not server_is_gone(MlflowException(denied))  # a live server said no
    assert not server_is_gone(RestException({"error_code": "INVALID_PARAMETER_VALUE"}))


def test_a_response_cut_half_way_is_a_gone_server_with_a_short_reason():
    """The server killed while answering (seen in CI: the kill landed mid-request): the
    run goes offline, and the warning names it in a few words, not the whole exception."""
    from mlflow.exceptions import MlflowException

    from accelsearch.tracking_failover import _short, server_is_gone

    url = "http://127.0.0.1:46727/api/2.0/mlflow/runs/log-batch"
    cut = MlflowException(
        f"API request to {url} failed with exception ('Connection broken: IncompleteRead(0 "
        "bytes read, 2 more expected)', IncompleteRead(0 bytes read, 2 more expected))"
    )
    assert server_is_gone(cut)
    assert _short(cut) == "connection broken mid-response"


# -- a resumed run whose tracking had gone offline -----------------------------------------------
def test_a_resumed_offline_tracker_finds_the_stand_ins_it_made_before(tmp_path):
    """``accelsearch resume`` of a run whose server had died: a new process, offline from the
    start (no server contact), logs to the server's run ids the driver holds; they land on
    the stand-ins the first process made (found by their tag), never on new ones."""
    from mlflow.tracking import MlflowClient

    from accelsearch.tracking import default_tracking_uri
    from accelsearch.tracking_failover import FailoverTracker, read_fallback

    server = f"http://127.0.0.1:{free_port()}"  # nobody there: offline trackers never ask
    search_on_server = "a" * 32  # run ids the first process got from the server
    trial_on_server = "b" * 32
    run_dir = tmp_path / "ws" / "run"
    run_dir.mkdir(parents=True)
    first = FailoverTracker(server, "resumed", tmp_path / "ws", offline=True)
    first.attach_run_dir(run_dir)
    first.log_metrics(search_on_server, {"x": 1.0})
    made_offline = first.start_run("trial", "t2", parent_id=search_on_server)
    first.end_run(made_offline)

    again = FailoverTracker(server, "resumed", tmp_path / "ws", offline=True)
    again.attach_run_dir(run_dir)
    again.set_tags(search_on_server, {"accelsearch.resumed": "1"})
    again.end_run(trial_on_server)
    again.log_metrics(made_offline, {"accuracy": 3.0})
    family = again.start_run("family", "f", tags={"accelsearch.search_run_id": search_on_server})
    again.end_run(family)

    client = MlflowClient(default_tracking_uri(tmp_path / "ws"))
    exp = client.get_experiment_by_name("resumed")
    runs = {r.info.run_id: r for r in client.search_runs([exp.experiment_id])}
    stand_ins = {
        r.data.tags["accelsearch.remote_run_id"]: r
        for r in runs.values()
        if "accelsearch.remote_run_id" in r.data.tags
    }
    assert sorted(stand_ins) == [search_on_server, trial_on_server]  # one each, not two
    search = stand_ins[search_on_server]
    assert search.data.tags["accelsearch.resumed"] == "1" and search.data.metrics["x"] == 1.0
    assert runs[made_offline].data.tags["mlflow.parentRunId"] == search.info.run_id
    assert runs[made_offline].data.metrics["accuracy"] == 3.0
    assert runs[family].data.tags["accelsearch.search_run_id"] == search.info.run_id
    assert stand_ins[trial_on_server].info.status == "FINISHED"
    record = read_fallback(run_dir)
    assert record["server"] == server and "resumed_offline_at" in record
    assert again.uri.startswith("sqlite:")
    assert len(runs) == 4


# -- a shared server: a read-only user ---------------------------------------------------------
@pytest.mark.slow
def test_a_read_only_user_is_refused_before_any_run_folder(tmp_path, monkeypatch, capsys):
    from accelsearch.cli import main
    from accelsearch.tracking import Tracker

    admin = ("admin", "admin-test-password-1")
    server = start_server(
        tmp_path / "auth-server",
        "--app-name",
        "basic-auth",
        env={"MLFLOW_AUTH_ADMIN_PASSWORD": admin[1]},
    )
    try:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", admin[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", admin[1])
        Tracker(server.url, "team")  # the team's experiment, made by the admin
        rest(
            server.url,
            "/api/2.0/mlflow/users/create",
            {"username": "reader", "password": "reader-test-password-1"},
            auth=admin,
        )
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "reader")
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "reader-test-password-1")
        ws = tmp_path / "ws"
        argv = ["run", str(ROOT / "recipes" / "quickstart.yaml"), "--output", str(ws)]
        argv += ["--tracking-uri", server.url, "--set", "tracking.experiment=team"]
        t0 = time.monotonic()
        rc = main(argv)
        took = time.monotonic() - t0
        err = capsys.readouterr().err
        assert rc == 2 and took < 20, (rc, took, err)
        assert "user 'reader' may not write to experiment 'team' (HTTP 403" in err
        assert "EDIT permission" in err
        assert not ws.exists()
        runs = search_runs(server.url, "team", auth=admin)
        assert runs == []  # no run was made on the server either
    finally:
        server.stop()


# -- a server killed in the middle of a run ----------------------------------------------------
NUM_SAMPLES = 4


def _recipe(log: Path):
    return kit.tiny_recipe(
        "random",
        num_samples=NUM_SAMPLES,
        evaluator_options={"sleep_s": 0.4, "epochs": 2, "log_path": str(log)},
        search={"max_concurrent": 1},
        scaling={
            "grid": [[1.2, 1.1, 1.0]],
            "targets": [2.0],
            "tolerance": 0.5,
            "max_measurements": 4,
        },
        tracking={"experiment": "killed"},
        name="killed",
    )


def _kill_after_first_trial(server, log: Path, killed: dict) -> threading.Thread:
    def watch() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if log.exists() and log.read_text().strip():
                os.killpg(server.proc.pid, signal.SIGKILL)  # the server and its workers
                server.proc.wait(30)
                killed["at"] = time.time()
                return
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow
def test_a_server_killed_mid_run_the_run_goes_on_offline_and_syncs_back(tmp_path, capsys):
    """The server dies after the first trial: the run notices in seconds, finishes offline
    (search.json, LACS, family); with the server back, `accelsearch resume` (which leaves the
    finished family alone) brings every trial and the family to it, nothing left RUNNING,
    and `accelsearch sync` then finds nothing left to do."""
    import ray

    from accelsearch.cli import main
    from accelsearch.pipeline import resume_run, run_recipe

    root, port = tmp_path / "server", free_port()
    server = start_server(root, port=port)
    ws, log = tmp_path / "ws", tmp_path / "evals.jsonl"
    killed: dict = {}
    watcher = _kill_after_first_trial(server, log, killed)
    lines: list[tuple[float, str]] = []
    try:
        outcome = run_recipe(
            _recipe(log),
            ws,
            tracking_uri=server.url,
            printer=lambda *parts: lines.append((time.time(), " ".join(map(str, parts)))),
        )
    finally:
        ray.shutdown()
        watcher.join(5)
        server.stop()
    assert killed, "the server was never killed"
    run_dir = outcome.output_dir
    record = json.loads((run_dir / "tracking_fallback.json").read_text())
    assert record["server"] == server.url and record["synced"] is None
    # refused, or broken when the kill lands while the server is answering a request
    first_reason = record["reason"]
    assert first_reason in ("connection refused", "connection broken mid-response"), record
    assert record["noticed_after_s"] < 10, "a dead server must be noticed in seconds"
    noticed = next(t for t, s in lines if "stopped answering" in s)
    assert noticed - killed["at"] < 30, "the run must not wait on a dead server"
    assert (run_dir / "search.json").exists() and (run_dir / "family.json").exists()
    trials = json.loads((run_dir / "search.json").read_text())["trials"]
    assert len(trials) == NUM_SAMPLES and all(t["status"] == "ok" for t in trials)
    assert any("still gone" in s for _, s in lines)  # the end of the run tried to sync
    assert json.loads((ws / "sync.json").read_text())["tracking_uri"] == server.url

    server = start_server(root, port=port)  # the same server, back
    try:
        lines.clear()
        resume_run(run_dir, printer=lambda *parts: lines.append(" ".join(map(str, parts))))
        assert any("left as it is" in s for s in lines)  # the finished family is not redone
        assert any(f"MLflow server {server.url} is back" in s for s in lines), lines
        record = json.loads((run_dir / "tracking_fallback.json").read_text())
        assert record["synced"] and record["reason"] == first_reason  # kept on resume
        runs = search_runs(server.url, "killed")
        by_kind: dict[str, list] = {}
        for r in runs:
            by_kind.setdefault(tags_of(r).get("accelsearch.kind"), []).append(r)
        assert not [r for r in runs if r["info"]["status"] == "RUNNING"]
        assert {k: len(v) for k, v in by_kind.items()} == {
            "search": 1,
            "trial": NUM_SAMPLES,
            "family": 1,
            "member": 2,
        }, {k: [r["info"]["run_name"] for r in v] for k, v in by_kind.items()}
        search = by_kind["search"][0]
        assert search["info"]["status"] == "FINISHED"
        metrics = {m["key"]: m["value"] for m in search["data"]["metrics"]}
        assert metrics["trials_completed"] == NUM_SAMPLES
        search_id = search["info"]["run_id"]
        for t in by_kind["trial"]:
            assert tags_of(t)["mlflow.parentRunId"] == search_id
            assert t["info"]["status"] == "FINISHED"
            assert {m["key"] for m in t["data"]["metrics"]} >= {"accuracy", "latency_ms"}
        family = by_kind["family"][0]
        assert tags_of(family)["accelsearch.search_run_id"] == search_id
        assert all(
            tags_of(m)["mlflow.parentRunId"] == family["info"]["run_id"] for m in by_kind["member"]
        )
        # `accelsearch sync` afterwards finds nothing left to do
        capsys.readouterr()
        assert main(["sync", "--output", str(ws)]) == 0
        again = capsys.readouterr().out
        assert "[sync] killed: 0 run(s) copied" in again and " 0 brought up to date" in again
        assert len(search_runs(server.url, "killed")) == len(runs)
    finally:
        server.stop()
