"""Keep a run going when its tracking server goes away in the middle of it.

:class:`FailoverTracker` logs to an http(s) tracking server as :class:`~.tracking.Tracker`
does. When a request fails because the server is gone (connection refused or reset, a
timeout, or 5xx answers after MLflow's retries, which :func:`~.tracking.bound_http_retries`
keeps to a few seconds), it says so once and logs everything that follows into the
workspace's SQLite store (``mlflow.db``), as ``accelsearch run --offline`` does; the search,
``search.json``, LACS and the family go on.

Runs that the server already holds (the search run, trials in flight) are continued in
*stand-ins*: local runs tagged ``accelsearch.remote_run_id`` with the server's run id. The
run ids the driver holds keep working: each call is translated to the stand-in, made on
first use. :func:`~.tracking_sync.sync_runs` later merges a stand-in into its server run
(metrics, params, tags, artifacts and the final status) instead of copying it, and copies
the runs made offline (the family and its members) with their links rewritten.

The run folder records the switch in ``tracking_fallback.json`` and the workspace's
``sync.json`` names the server, so ``accelsearch sync --output WORKSPACE`` knows where to
upload, and ``accelsearch resume`` goes on in the local store. At the end of the run (or of
its resume), :meth:`FailoverTracker.sync_back` uploads the store if the server is back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelsearch.core.errors import ConfigError
from accelsearch.mlflow_schema import RUN_ID_TAGS
from accelsearch.tracking import (
    Tracker,
    bound_http_retries,
    check_reachable,
    default_tracking_uri,
    write_sync_target,
)
from accelsearch.tracking_sync import REMOTE_RUN_TAG, STAND_IN_TAG, sync_runs

FALLBACK_FILE = "tracking_fallback.json"  # in a run folder whose tracking went offline
#: tags whose value is another run's id (translated to the stand-in in the local store)


def server_is_gone(exc: BaseException) -> bool:
    """True when ``exc`` (or what caused it) says the server did not answer: a refused or
    reset connection, a timeout, or MLflow giving up after its retries (5xx answers
    included). An answer from a live server (a bad request, 403, 404) is not."""
    import requests

    gone = (
        requests.exceptions.ConnectionError,
        requests.exceptions.Timeout,
        requests.exceptions.RetryError,
        ConnectionError,
        TimeoutError,
    )
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, gone):
            return True
        text = str(exc)
        # how MLflow's REST client reports a request that got no answer; an answer is
        # "API request to ... failed with error code 403 != 200" and means the server lives
        if text.startswith("API request to") and (
            "failed with exception" in text or "failed with timeout exception" in text
        ):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def read_fallback(run_dir: str | Path) -> dict[str, Any] | None:
    """The fallback record of a run folder, or None when its tracking never went offline."""
    path = Path(run_dir) / FALLBACK_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except ValueError:
        return {"server": None}


class FailoverTracker:
    """A :class:`Tracker` for a tracking server that goes on offline when the server dies.

    ``offline=True`` starts in the local store without contacting the server (a resumed run
    whose tracking had gone offline). Same methods as :class:`Tracker`.
    """

    def __init__(
        self,
        uri: str,
        experiment: str,
        workspace: str | Path,
        offline: bool = False,
        printer: Callable[[str], None] = print,
    ) -> None:
        self.http_settings = bound_http_retries()
        self.server_uri = uri
        self.experiment = experiment
        self.workspace = Path(workspace)
        self.printer = printer
        self.server: Tracker | None = None
        self.local: Tracker | None = None
        self.fallback: dict[str, Any] | None = None
        self.run_dir: Path | None = None
        self._lock = threading.RLock()
        self._ids: dict[str, str] = {}  # run id the driver holds -> local run id
        self._created: dict[str, dict[str, Any]] = {}  # server run id -> its start_run
        if offline:
            self._go_offline("the run's tracking had gone offline before it was resumed")
        else:
            self.server = Tracker(uri, experiment)

    # -- what callers read -------------------------------------------------------------------
    @property
    def active(self) -> Tracker:
        return self.local if self.local is not None else self.server

    @property
    def offline(self) -> bool:
        return self.local is not None

    @property
    def uri(self) -> str:
        """The server's URI, or the local store's while the results are only there."""
        synced = self.fallback is not None and self.fallback.get("synced")
        return self.server_uri if not self.offline or synced else self.active.uri

    @property
    def client(self):
        return self.active.client

    @property
    def experiment_id(self) -> str:
        return self.active.experiment_id

    def attach_run_dir(self, run_dir: str | Path) -> None:
        """Where the fallback is recorded (the run folder, once it exists); a resumed run
        keeps its earlier record (when and why it went offline) and adds to it."""
        self.run_dir = Path(run_dir)
        if self.fallback is not None:
            self.fallback = {**(read_fallback(self.run_dir) or {}), **self.fallback}
            self._save_record()

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, kind, name, parent_id=None, tags=None, params=None) -> str:
        with self._lock:
            if not self.offline:
                t0 = time.monotonic()
                try:
                    run_id = self.server.start_run(kind, name, parent_id, tags)
                except Exception as exc:
                    if not server_is_gone(exc):
                        raise
                    self._go_offline(exc, time.monotonic() - t0)
                else:
                    self._created[run_id] = {
                        "kind": kind,
                        "name": name,
                        "parent_id": parent_id,
                        "tags": dict(tags or {}),
                    }
                    if params:
                        self.log_params(run_id, params)
                    return run_id
            return self._start_local(kind, name, parent_id, tags, params)

    def _start_local(self, kind, name, parent_id, tags, params) -> str:
        parent = self.resolve(parent_id, create=True) if parent_id else None
        tags = dict(tags or {})
        for key in RUN_ID_TAGS:
            if tags.get(key):
                tags[key] = self.resolve(str(tags[key])) or tags[key]
        run_id = self.local.start_run(kind, name, parent, tags, params)
        self._ids[run_id] = run_id
        return run_id

    def end_run(self, run_id: str, status: str = "FINISHED") -> None:
        self._call("end_run", run_id, status)

    def log_params(self, run_id: str, params: dict[str, Any]) -> None:
        self._call("log_params", run_id, params)

    def log_metrics(self, run_id: str, metrics: dict[str, Any], step: int = 0) -> None:
        self._call("log_metrics", run_id, metrics, step)

    def log_batch(self, run_id, metrics=None, params=None, tags=None, step: int = 0) -> None:
        self._call("log_batch", run_id, metrics, params, tags, step)

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        self._call("set_tags", run_id, tags)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self._call("log_text", run_id, text, artifact_file)

    def log_json(self, run_id: str, data: Any, artifact_file: str) -> None:
        self._call("log_json", run_id, data, artifact_file)

    def log_file(self, run_id: str, path, artifact_path: str | None = None) -> None:
        self._call("log_file", run_id, path, artifact_path)

    def log_figure(self, run_id: str, figure, artifact_file: str) -> None:
        self._call("log_figure", run_id, figure, artifact_file)

    def _call(self, method: str, run_id: str, *args: Any) -> Any:
        """``Tracker.<method>`` on the server; offline (on the stand-in) once it is gone."""
        with self._lock:
            if not self.offline:
                t0 = time.monotonic()
                try:
                    return getattr(self.server, method)(run_id, *args)
                except Exception as exc:
                    if not server_is_gone(exc):
                        raise
                    self._go_offline(exc, time.monotonic() - t0)
            return getattr(self.local, method)(self.resolve(run_id, create=True), *args)

    def running_children(self, parent_id: str) -> list[str]:
        """Ids of ``parent_id``'s child runs that are still RUNNING (in the active store)."""
        parent = self.resolve(parent_id)
        return self.active.running_children(parent) if parent else []

    def resolve(self, run_id: str | None, create: bool = False) -> str | None:
        """The id under which ``run_id`` lives in the active store: itself while online;
        offline, the local run or its stand-in (made when ``create``, else None)."""
        if not run_id or not self.offline:
            return run_id
        with self._lock:
            if run_id in self._ids:
                return self._ids[run_id]
            found = self._find_local(run_id)
            if found is None and create:
                found = self._stand_in(run_id)
            if found is not None:
                self._ids[run_id] = found
            return found

    def _find_local(self, run_id: str) -> str | None:
        from mlflow.exceptions import MlflowException

        client = self.local.client
        try:
            client.get_run(run_id)
            return run_id
        except MlflowException:
            pass
        hits = client.search_runs(
            [self.local.experiment_id],
            filter_string=f"tags.`{REMOTE_RUN_TAG}` = '{run_id}'",
            max_results=1,
        )
        return hits[0].info.run_id if hits else None

    def _stand_in(self, server_id: str) -> str:
        """A local run that continues the server's run ``server_id``."""
        mark = {REMOTE_RUN_TAG: server_id, STAND_IN_TAG: "true"}
        info = self._created.get(server_id)
        if info is not None:  # made by this process: same kind, name, parent and tags
            parent = self.resolve(info["parent_id"], create=True) if info["parent_id"] else None
            return self.local.start_run(
                info["kind"], info["name"], parent, {**info["tags"], **mark}
            )
        run = self.local.client.create_run(
            self.local.experiment_id, tags=mark, run_name=f"server-run-{server_id[:8]}"
        )
        return run.info.run_id

    # -- going offline -------------------------------------------------------------------------
    def _go_offline(self, reason: BaseException | str, failed_after_s: float = 0.0) -> None:
        """Switch to the workspace's store; ``failed_after_s``: how long the request that
        found the server gone took (MLflow's bounded retries)."""
        text = reason if isinstance(reason, str) else _short(reason)
        if not isinstance(reason, str):
            self.printer(
                f"[tracking] warning: MLflow server {self.server_uri} stopped answering ({text}, "
                f"noticed in {failed_after_s:.1f} s); going on offline: the results are kept in "
                f"{self.workspace / 'mlflow.db'}; upload them with `accelsearch sync --output "
                f"{self.workspace}` (the end of this run and `accelsearch resume` try that too)"
            )
        t0 = time.monotonic()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.local = Tracker(
            default_tracking_uri(self.workspace), self.experiment, self.workspace / "mlartifacts"
        )
        write_sync_target(self.workspace, self.server_uri)
        if isinstance(reason, str):  # a resume: the first fallback's record stays
            self.fallback = {"server": self.server_uri, "resumed_offline_at": _now()}
        else:
            self.fallback = {
                "server": self.server_uri,
                "at": _now(),
                "reason": text,
                "noticed_after_s": round(failed_after_s, 2),
                "local_store_ready_s": round(time.monotonic() - t0, 2),
            }
        self.fallback["synced"] = None
        self._save_record()

    def _save_record(self) -> None:
        if self.run_dir is not None and self.fallback is not None:
            path = self.run_dir / FALLBACK_FILE
            path.write_text(json.dumps(self.fallback, indent=2) + "\n")

    def sync_back(self, printer: Callable[[str], None] | None = None) -> bool:
        """Upload the local store's runs of this experiment when the server answers again.

        True when nothing is left to upload (never offline, or synced now)."""
        say = printer or self.printer
        if not self.offline:
            return True
        try:
            check_reachable(self.server_uri, timeout=5.0)
        except ConfigError:
            say(
                f"[tracking] MLflow server {self.server_uri} is still gone: the results stay in "
                f"{self.workspace / 'mlflow.db'}; upload them later with "
                f"`accelsearch sync --output {self.workspace}`"
            )
            return False
        report = sync_runs(self.active.uri, self.server_uri, [self.experiment], printer=say)
        self.fallback["synced"] = _now()
        self._save_record()
        say(
            f"[tracking] MLflow server {self.server_uri} is back: {len(report.copied)} run(s) "
            f"copied, {len(report.merged)} brought up to date"
        )
        return True


#: what a failed request's long text boils down to, for the one-line warning
_REASONS = (
    ("Connection refused", "connection refused"),
    ("timed out", "timed out"),
    ("Read timed out", "timed out"),
    ("error responses", "server errors (5xx) after retries"),
    ("Name or service not known", "host not found"),
    ("Connection reset", "connection reset"),
    ("RemoteDisconnected", "connection closed by the server"),
    # the server killed while it was answering: the response stops half-way
    ("IncompleteRead", "connection broken mid-response"),
    ("Connection broken", "connection broken mid-response"),
)


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    return text.splitlines()[0][:200]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
