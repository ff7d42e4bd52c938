"""Tracking: reachability checks before anything runs, the offline marker, and copying runs
between two real MLflow SQLite stores (what ``accelsearch sync`` does)."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from pathlib import Path

import pytest

from accelsearch.core.errors import ConfigError
from accelsearch.tracking import (
    Tracker,
    check_reachable,
    default_tracking_uri,
    is_remote,
    read_sync_target,
    write_sync_target,
)
from accelsearch.tracking_sync import COMPLETE_TAG, SOURCE_TAG, sync_runs

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _NotMlflow(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_closed_port_fails_with_the_fix():
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError) as exc:
        check_reachable(uri, timeout=2)
    msg = str(exc.value)
    assert uri in msg and "mlflow_server/start.py" in msg and "--offline" in msg


def test_a_web_server_that_is_not_mlflow_is_named():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotMlflow)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        uri = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(ConfigError, match="answered HTTP 404.*is it an MLflow tracking server"):
            check_reachable(uri, timeout=2)
    finally:
        server.shutdown()
        server.server_close()


def test_local_stores_are_not_remote(tmp_path):
    assert not is_remote(default_tracking_uri(tmp_path))
    assert not is_remote(None) and is_remote("http://127.0.0.1:5000")
    check_reachable(default_tracking_uri(tmp_path))  # nothing to check for a file store
    assert read_sync_target(tmp_path) is None
    write_sync_target(tmp_path, "http://127.0.0.1:5000")
    assert read_sync_target(tmp_path) == "http://127.0.0.1:5000"


def test_cli_run_stops_before_the_search_when_the_server_is_down(tmp_path, capsys):
    from accelsearch.cli import main

    uri = f"http://127.0.0.1:{free_port()}"
    ws = tmp_path / "ws"
    rc = main(
        [
            "run",
            str(ROOT / "recipes" / "quickstart.yaml"),
            "--output",
            str(ws),
            "--tracking-uri",
            uri,
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert f"MLflow tracking server {uri!r} cannot be reached" in err and "--offline" in err
    assert not ws.exists() or not any(ws.iterdir()), "nothing may run or be written"


def test_cli_run_names_a_missing_dataset_before_anything_runs(tmp_path, capsys):
    from accelsearch.cli import main

    ws = tmp_path / "ws"
    rc = main(
        [
            "run",
            str(ROOT / "recipes" / "quickstart.yaml"),
            "--output",
            str(ws),
            "--set",
            "accuracy.options.dataset=data/no-such-folder/train",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 2
    assert "accuracy.options.dataset: 'data/no-such-folder/train' does not exist" in err
    assert not ws.exists()


def test_validate_names_a_missing_dataset_file(tmp_path, capsys):
    from accelsearch.cli import main

    args = [
        "validate",
        str(ROOT / "recipes" / "quickstart.yaml"),
        "--set",
        f"accuracy.options.dataset={tmp_path / 'cifar.tar.gz'}",
    ]
    # missing data is a warning naming the field (issue 20); --check-data makes it the
    # error `run` gives, with run's exit code
    assert main(args) == 0
    assert "accuracy.options.dataset:" in capsys.readouterr().err
    assert main([*args, "--check-data"]) == 2
    assert "accuracy.options.dataset:" in capsys.readouterr().err
    (tmp_path / "cifar.tar.gz").write_bytes(b"")  # exists now: the schema check passes it on
    from accelsearch.recipe import check_input_paths

    assert check_input_paths({"dataset": str(tmp_path / "cifar.tar.gz"), "epochs": 1})
    assert check_input_paths({"dataset": "digits", "val": "torchvision:CIFAR10"})


# -- copying runs between stores -------------------------------------------------------------
def _source_store(tmp_path: Path) -> Tracker:
    """A search with two trials (one failed) and a family with one member, as the pipeline
    writes them, with metric histories and artifacts."""
    tracker = Tracker(default_tracking_uri(tmp_path / "src"), "exp", tmp_path / "src" / "art")
    search = tracker.start_run("search", "s-search", params={"space": "efficientnet_x"})
    tracker.log_text(search, "{}", "recipe.json")
    for i, status in enumerate(("FINISHED", "FAILED")):
        trial = tracker.start_run("trial", f"trial-{i}", parent_id=search, params={"k": i})
        for epoch in range(3):
            tracker.log_metrics(trial, {"accuracy": 10.0 * epoch + i}, step=epoch)
        tracker.log_text(trial, json.dumps({"arch": i}), "arch.json")
        tracker.end_run(trial, status)
    tracker.end_run(search)
    family = tracker.start_run(
        "family", "f-family", tags={"accelsearch.search_run_id": search}, params={"alpha": 1.2}
    )
    tracker.log_text(family, "| a |", "family.md")
    tracker.log_text(family, "nested", "plots/front.txt")
    member = tracker.start_run("member", "f-1", parent_id=family, params={"phi": 1.5})
    tracker.log_metrics(member, {"latency_ms": 2.5, "accuracy": 70.0})
    tracker.end_run(member)
    tracker.end_run(family)
    return tracker


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Tracker:
    return _source_store(tmp_path_factory.mktemp("source"))


def _runs(uri: str, name: str):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    return client, {r.info.run_name: r for r in client.search_runs([exp.experiment_id])}


def test_sync_copies_runs_with_history_artifacts_and_links(source, tmp_path):
    src = source
    target = default_tracking_uri(tmp_path / "dst")
    (tmp_path / "dst").mkdir()
    messages = []
    report = sync_runs(src.uri, target, printer=messages.append)
    assert len(report.copied) == 5 and not report.skipped
    client, runs = _runs(target, "exp")
    assert set(runs) == {"s-search", "trial-0", "trial-1", "f-family", "f-1"}
    search_id, family_id = runs["s-search"].info.run_id, runs["f-family"].info.run_id
    assert runs["trial-0"].data.tags["mlflow.parentRunId"] == search_id
    assert runs["trial-1"].data.tags["mlflow.parentRunId"] == search_id
    assert runs["f-1"].data.tags["mlflow.parentRunId"] == family_id
    assert runs["f-family"].data.tags["accelsearch.search_run_id"] == search_id
    assert runs["trial-1"].info.status == "FAILED" and runs["f-1"].info.status == "FINISHED"
    assert runs["f-1"].data.params["phi"] == "1.5"
    assert runs["f-1"].data.tags["accelsearch.kind"] == "member"
    history = client.get_metric_history(runs["trial-1"].info.run_id, "accuracy")
    assert [(m.step, m.value) for m in history] == [(0, 1.0), (1, 11.0), (2, 21.0)]
    for name, files in {"trial-0": {"arch.json"}, "f-family": {"family.md", "plots"}}.items():
        assert {f.path for f in client.list_artifacts(runs[name].info.run_id)} == files
    fam_id = runs["f-family"].info.run_id
    assert [f.path for f in client.list_artifacts(fam_id, "plots")] == ["plots/front.txt"]
    text = Path(client.download_artifacts(runs["trial-0"].info.run_id, "arch.json", tmp_path))
    assert json.loads(text.read_text()) == {"arch": 0}
    src_runs = _runs(src.uri, "exp")[1]
    for name, run in runs.items():
        assert run.data.tags[SOURCE_TAG] == src_runs[name].info.run_id
        assert run.data.tags[COMPLETE_TAG] == "true"
        assert run.info.start_time == src_runs[name].info.start_time
    assert any("5 run(s) copied" in m for m in messages)


def test_sync_again_copies_nothing_and_redoes_half_done_copies(source, tmp_path):
    src = source
    target = default_tracking_uri(tmp_path / "dst")
    (tmp_path / "dst").mkdir()
    first = sync_runs(src.uri, target, printer=lambda m: None)
    client, runs = _runs(target, "exp")
    # an interrupted copy: the completion tag never arrived
    client.delete_tag(runs["f-1"].info.run_id, COMPLETE_TAG)
    again = sync_runs(src.uri, target, printer=lambda m: None)
    assert len(again.skipped) == 4 and len(again.copied) == 1
    assert again.redone == [_runs(src.uri, "exp")[1]["f-1"].info.run_id]
    client, runs = _runs(target, "exp")
    assert len(runs) == 5  # the half-done copy was replaced, not duplicated
    assert (
        runs["f-1"].data.tags["mlflow.parentRunId"]
        == first.copied[_runs(src.uri, "exp")[1]["f-family"].info.run_id]
    )


def test_sync_refuses_the_same_store_and_unknown_experiments(source, tmp_path):
    src = source
    with pytest.raises(ConfigError, match="same store"):
        sync_runs(src.uri, src.uri)
    with pytest.raises(ConfigError, match=r"\['nope'\] not in the source store.*'exp'"):
        sync_runs(src.uri, default_tracking_uri(tmp_path), ["nope"])


def test_cli_sync_needs_a_target(source, tmp_path, capsys):
    from accelsearch.cli import main

    workspace = source.uri.removeprefix("sqlite:///").removesuffix("/mlflow.db")
    assert main(["sync", "--output", workspace]) == 2
    assert "pass --tracking-uri" in capsys.readouterr().err
    assert main(["sync", "--output", str(tmp_path / "nothing")]) == 2
    assert "no MLflow store" in capsys.readouterr().err
