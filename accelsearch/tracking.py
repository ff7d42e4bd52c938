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

Before anything runs, a tracker also fails with the fix when a database store
(``postgresql://``, ``mysql://``) refuses connections (:func:`check_database`, in
:mod:`accelsearch.tracking_checks` with :func:`check_reachable`) and when a server lets the
user read but not write the experiment (HTTP 403). A local SQLite store is created and
migrated under a file lock (:func:`store_lock`), so two runs started at once in a new
workspace do not race MLflow's schema migration. :func:`bound_http_retries` caps MLflow's
HTTP retries for runs (:data:`HTTP_RETRY_DEFAULTS`), so a server that dies mid-run is noticed
in seconds (:mod:`accelsearch.tracking_failover` then goes on offline).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from filelock import FileLock

from accelsearch.core.errors import ConfigError
from accelsearch.mlflow_schema import EXPERIMENT_TAGS as EXPERIMENT_TAGS
from accelsearch.mlflow_schema import KIND_TAG as KIND_TAG
from accelsearch.mlflow_schema import KINDS as KINDS
from accelsearch.mlflow_schema import WRITE_PROBE_TAG
from accelsearch.tracking_checks import DATABASE_PORTS as DATABASE_PORTS
from accelsearch.tracking_checks import DATABASE_TIMEOUT_S as DATABASE_TIMEOUT_S
from accelsearch.tracking_checks import REMOTE_SCHEMES as REMOTE_SCHEMES
from accelsearch.tracking_checks import check_database as check_database
from accelsearch.tracking_checks import check_reachable as check_reachable

# the run kinds and their tag (see accelsearch.mlflow_schema), and the store checks (see
# accelsearch.tracking_checks), importable from here as before


#: MLflow's HTTP retry settings for a run (MLflow's own defaults: 7 retries with backoff
#: factor 2 and a 120 s timeout, about 4 minutes per request when the server is gone). An
#: environment variable the user set wins.
HTTP_RETRY_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.5",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
SYNC_FILE = "sync.json"  # in an offline workspace: the server that `accelsearch sync` uploads to


def default_tracking_uri(output_dir: str | Path) -> str:
    return f"sqlite:///{Path(output_dir).resolve() / 'mlflow.db'}"


def is_remote(uri: str | None) -> bool:
    """True for a tracking server reached over HTTP (artifacts then go through the server)."""
    return bool(uri) and urllib.parse.urlparse(uri).scheme in REMOTE_SCHEMES


def bound_http_retries() -> dict[str, str]:
    """Cap MLflow's HTTP retries and timeout in this process (see :data:`HTTP_RETRY_DEFAULTS`);
    returns the settings in force."""
    for key, value in HTTP_RETRY_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return {key: os.environ[key] for key in HTTP_RETRY_DEFAULTS}


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (None for other stores or in-memory)."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///") :].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextlib.contextmanager
def store_lock(uri: str, timeout: float = 300.0) -> Iterator[None]:
    """Hold ``<db>.lock`` next to a SQLite store while it is created, migrated or its
    experiment made: MLflow's schema migration is not safe against a second process doing
    the same (``table ... already exists``, ``duplicate column name``). Other stores: no-op."""
    path = sqlite_path(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=timeout):
        yield


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
        check_database(uri)
        quiet_mlflow()
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        with store_lock(uri), _permission_errors(uri, experiment):
            self.client = MlflowClient(tracking_uri=uri)  # creates and migrates a new store
            exp = self.client.get_experiment_by_name(experiment)
            if exp is None:
                # a server keeps (and proxies) the artifacts itself; a local store gets a folder
                local = artifact_root and not is_remote(uri)
                location = Path(artifact_root).resolve().as_uri() if local else None
                self.experiment_id = self._create_experiment(experiment, location)
            else:
                self.experiment_id = exp.experiment_id
                if is_remote(uri):  # may we write? (READ-only users get HTTP 403 here)
                    self.client.set_experiment_tag(self.experiment_id, WRITE_PROBE_TAG, "ok")
        self.experiment = experiment

    def _create_experiment(self, name: str, location: str | None) -> str:
        """Create ``name``; when it exists by then (another run made it a moment ago, or a
        retried request already had), use it."""
        from mlflow.exceptions import MlflowException

        try:
            return self.client.create_experiment(
                name, artifact_location=location, tags=EXPERIMENT_TAGS
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.client.get_experiment_by_name(name).experiment_id

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

    def running_children(self, parent_id: str) -> list[str]:
        """Ids of ``parent_id``'s child runs that are still RUNNING."""
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{parent_id}' and attributes.status = "
            "'RUNNING'",
            max_results=5000,
        )
        return [r.info.run_id for r in runs]

    def resolve(self, run_id: str | None, create: bool = False) -> str | None:
        """The id under which ``run_id`` lives in this store (itself; see FailoverTracker)."""
        return run_id

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


@contextlib.contextmanager
def _permission_errors(uri: str, experiment: str) -> Iterator[None]:
    """HTTP 401/403 from the server become a ConfigError that says what to ask for."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        status = exc.get_http_status_code()
        if status not in (401, 403):
            raise
        user = os.environ.get("MLFLOW_TRACKING_USERNAME")
        who = f"user {user!r}" if user else "this user"
        raise ConfigError(
            f"MLflow tracking server {uri!r}: {who} may not write to experiment "
            f"{experiment!r} (HTTP {status}: {str(exc).splitlines()[0][:200]}); ask the "
            "server's admin for EDIT permission on it, or set tracking.experiment to an "
            "experiment of your own"
        ) from None


def _tag_text(v: Any) -> str:
    text = v if isinstance(v, str) else json.dumps(v, default=str)
    return text[:5000]
