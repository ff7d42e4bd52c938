"""MLflow tracking: the run schema users filter on.

Runs carry the tag ``accelsearch.kind`` ∈ {``search``, ``trial``, ``family``, ``member``,
``baseline``}; trials are child runs of their search run, members and baselines (published
models measured alike, :mod:`accelsearch.baselines`) child runs of their family run
(MLflow's ``mlflow.parentRunId``). Trial and member metrics: ``accuracy``, ``latency_ms``,
``reward``, ``params_m``, ``gflops`` (and ``gmacs``); member params: ``alpha``, ``beta``,
``gamma``, ``phi``, ``target_ms``; every trial and member logs ``arch.json``.

The default store is SQLite in the run's output folder (``sqlite:///OUT/mlflow.db``) with
artifacts in ``OUT/mlartifacts``; ``accelsearch ui --output OUT`` opens it. With a tracking
server (``--tracking-uri http://HOST:PORT``, see ``mlflow_server/``) the server stores the
artifacts and serves them (``mlflow-artifacts:/``); a server that cannot be reached fails
before anything runs. ``accelsearch run --offline`` keeps everything in the local store and
``accelsearch sync`` (:mod:`accelsearch.tracking_sync`) uploads it later.
"""

from __future__ import annotations

import json
import math
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from accelsearch.errors import ConfigError

KIND_TAG = "accelsearch.kind"
#: MLflow 3's UI opens an experiment with this tag in its "Model training" (runs) views
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
KINDS = ("search", "trial", "family", "member", "baseline")


REMOTE_SCHEMES = ("http", "https")
SYNC_FILE = "sync.json"  # in an offline workspace: the server that `accelsearch sync` uploads to


def default_tracking_uri(output_dir: str | Path) -> str:
    return f"sqlite:///{Path(output_dir).resolve() / 'mlflow.db'}"


def is_remote(uri: str | None) -> bool:
    """True for a tracking server reached over HTTP (artifacts then go through the server)."""
    return bool(uri) and urllib.parse.urlparse(uri).scheme in REMOTE_SCHEMES


def check_reachable(uri: str, timeout: float = 5.0, hint: str | None = None) -> None:
    """Fail early, with the fix, when an http(s) tracking server does not answer.

    Called before a search starts: a TCP connection shows the server is up, and one small
    authenticated request (``experiments/search``, with ``MLFLOW_TRACKING_USERNAME`` /
    ``MLFLOW_TRACKING_PASSWORD`` when set) shows that it is MLflow and lets us in.
    """
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in REMOTE_SCHEMES:
        return
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    offline_hint = hint or (
        "start it with `python mlflow_server/start.py`, or run with --offline to keep the "
        "results in the workspace's SQLite store and upload them later with `accelsearch sync`"
    )
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(
            f"MLflow tracking server {uri!r} cannot be reached ({exc}); {offline_hint}"
        ) from None
    _check_api(uri, timeout, offline_hint)


def _check_api(uri: str, timeout: float, offline_hint: str) -> None:
    import base64
    import os
    import urllib.error
    import urllib.request

    url = uri.rstrip("/") + "/api/2.0/mlflow/experiments/search?max_results=1"
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    password = os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=max(timeout, 30.0)) as resp:
            resp.read(1)
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            who = f"user {user!r} was refused" if user else "no user name was given"
            raise ConfigError(
                f"MLflow tracking server {uri!r} asks for a user name and password ({who}); "
                "export MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
            ) from None
        if exc.code == 403:
            raise ConfigError(
                f"MLflow tracking server {uri!r}: user {user!r} may not read experiments "
                "(HTTP 403); ask the server's admin for permission"
            ) from None
        raise ConfigError(
            f"{uri!r} answered HTTP {exc.code} to an MLflow API request: is it an MLflow "
            f"tracking server (and the URI without a path)? {offline_hint}"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ConfigError(
            f"MLflow tracking server {uri!r} does not answer ({reason}); {offline_hint}"
        ) from None


def quiet_mlflow() -> None:
    """No per-run "View run at" links or artifact progress bars from MLflow's client: the
    run prints its own progress (a user's explicit setting of these variables wins)."""
    import os

    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def write_sync_target(workspace: str | Path, uri: str) -> Path:
    """Remember, in an offline workspace, the server its runs were meant for."""
    path = Path(workspace) / SYNC_FILE
    path.write_text(json.dumps({"tracking_uri": uri}, indent=2) + "\n")
    return path


def read_sync_target(workspace: str | Path) -> str | None:
    path = Path(workspace) / SYNC_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("tracking_uri") or None
    except (ValueError, AttributeError):
        return None


class Tracker:
    """Thin layer over ``MlflowClient`` that writes the accelsearch run schema."""

    def __init__(self, uri: str, experiment: str, artifact_root: str | Path | None = None) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        check_reachable(uri)
        quiet_mlflow()
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            # a server keeps (and proxies) the artifacts itself; a local store gets a folder
            local = artifact_root and not is_remote(uri)
            location = Path(artifact_root).resolve().as_uri() if local else None
            self.experiment_id = self.client.create_experiment(
                experiment, artifact_location=location, tags=EXPERIMENT_TAGS
            )
        else:
            self.experiment_id = exp.experiment_id
        self.experiment = experiment

    # -- runs ------------------------------------------------------------------------------
    def start_run(
        self,
        kind: str,
        name: str,
        parent_id: str | None = None,
        tags: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> str:
        if kind not in KINDS:
            raise ValueError(f"run kind {kind!r} not in {KINDS}")
        all_tags = {KIND_TAG: kind, "mlflow.runName": name}
        if parent_id:
            all_tags["mlflow.parentRunId"] = parent_id
        all_tags.update({k: _tag_text(v) for k, v in (tags or {}).items()})
        run = self.client.create_run(self.experiment_id, tags=all_tags, run_name=name)
        if params:
            self.log_params(run.info.run_id, params)
        return run.info.run_id

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self.client.set_terminated(run_id, status=status)

    # -- data ------------------------------------------------------------------------------
    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _tag_text(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])

    def log_metrics(self, run_id: str, metrics: dict[str, Any], step: int = 0) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(k, float(v), now, step)
            for k, v in metrics.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
        ]
        if items:
            self.client.log_batch(run_id, metrics=items)

    def log_batch(
        self,
        run_id: str,
        metrics: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
        tags: dict[str, Any] | None = None,
        step: int = 0,
    ) -> None:
        """Metrics, params and tags in one request (one database commit)."""
        import time

        from mlflow.entities import Metric, Param, RunTag

        now = int(time.time() * 1000)
        m = [
            Metric(k, float(v), now, step)
            for k, v in (metrics or {}).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))
        ]
        p = [Param(k, _tag_text(v)[:6000]) for k, v in (params or {}).items()]
        t = [RunTag(k, _tag_text(v)) for k, v in (tags or {}).items()]
        if m or p or t:
            self.client.log_batch(run_id, metrics=m, params=p[:100], tags=t)
            for i in range(100, len(p), 100):
                self.client.log_batch(run_id, params=p[i : i + 100])

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        if tags:  # one request for all of them (a search sets tags on every trial)
            self.client.log_batch(run_id, tags=[RunTag(k, _tag_text(v)) for k, v in tags.items()])

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_json(self, run_id: str, data: Any, artifact_file: str) -> None:
        self.client.log_text(run_id, json.dumps(data, indent=2, default=str), artifact_file)

    def log_file(self, run_id: str, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, str(path), artifact_path)

    def log_figure(self, run_id: str, figure, artifact_file: str) -> None:
        self.client.log_figure(run_id, figure, artifact_file)


def _tag_text(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text[:5000]
