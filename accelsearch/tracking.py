"""MLflow tracking: the run schema users filter on.

Runs carry the tag ``accelsearch.kind`` ∈ {``search``, ``trial``, ``family``, ``member``};
trials are child runs of their search run and members child runs of their family run
(MLflow's ``mlflow.parentRunId``). Trial and member metrics: ``accuracy``, ``latency_ms``,
``reward``, ``params_m``, ``gflops`` (and ``gmacs``); member params: ``alpha``, ``beta``,
``gamma``, ``phi``, ``target_ms``; every trial and member logs ``arch.json``.

The default store is SQLite in the run's output folder (``sqlite:///OUT/mlflow.db``) with
artifacts in ``OUT/mlartifacts``; ``accelsearch ui --output OUT`` opens it.
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
KINDS = ("search", "trial", "family", "member")


def default_tracking_uri(output_dir: str | Path) -> str:
    return f"sqlite:///{Path(output_dir).resolve() / 'mlflow.db'}"


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail early, with the fix, when an http(s) tracking server does not answer."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    host = parsed.hostname or "127.0.0.1"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConfigError(
            f"MLflow tracking server {uri!r} cannot be reached ({exc}); start it with "
            "`python mlflow_server/start.py`, or leave tracking.uri empty to use the local "
            "SQLite store in the output folder"
        ) from None


class Tracker:
    """Thin layer over ``MlflowClient`` that writes the accelsearch run schema."""

    def __init__(self, uri: str, experiment: str, artifact_root: str | Path | None = None) -> None:
        import mlflow
        from mlflow.tracking import MlflowClient

        check_reachable(uri)
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        self.client = MlflowClient(tracking_uri=uri)
        exp = self.client.get_experiment_by_name(experiment)
        if exp is None:
            location = Path(artifact_root).resolve().as_uri() if artifact_root else None
            self.experiment_id = self.client.create_experiment(
                experiment, artifact_location=location
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
