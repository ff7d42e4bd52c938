"""Copy runs from one MLflow store to another: ``accelsearch sync`` after an offline run.

``accelsearch run --offline`` keeps a run's results in the workspace's SQLite store;
:func:`sync_runs` later copies every run of that store to a tracking server, experiment by
experiment (created there by name when missing): run name, status and times, params, tags,
every metric with its whole history (steps and timestamps), the artifacts (uploaded through
the server), and the parent links (``mlflow.parentRunId``, and the family's
``accelsearch.search_run_id``) rewritten to the new run ids.

Each copy carries the tag ``accelsearch.source_run_id`` (and ``accelsearch.sync_complete``
once everything is uploaded), so syncing again skips what is already there and redoes a copy
that an interruption left half done; ``accelsearch.sync_fingerprint`` (a digest of the
source's status, params, tags and latest metrics) tells a source run that changed since it
was copied (a run resumed offline), and such a copy is brought up to date.

A *stand-in* (a local run tagged ``accelsearch.remote_run_id``, made by
:class:`~accelsearch.tracking_failover.FailoverTracker` for a run the server held when it went
away) is merged into that server run instead: its metrics, params, tags, artifacts and final
status are added there. Merging twice changes nothing (MLflow skips identical metric points,
and params already there are left alone).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from accelsearch.core.errors import ConfigError
from accelsearch.mlflow_schema import (
    COMPLETE_TAG,
    FINGERPRINT_TAG,
    REMOTE_RUN_TAG,
    SEARCH_RUN_ID,
    SOURCE_PARENT_TAG,
    SOURCE_TAG,
    SOURCE_URI_TAG,
    STAND_IN_TAG,
)
from accelsearch.tracking import check_reachable, default_tracking_uri, quiet_mlflow

PARENT_TAG = "mlflow.parentRunId"
#: a stand-in's own tags that must not overwrite those of the server run it merges into
_STAND_IN_ONLY = (REMOTE_RUN_TAG, STAND_IN_TAG, "mlflow.runName", PARENT_TAG)
#: tags whose value is another run's id, rewritten to the copy's id
RUN_ID_TAGS = (PARENT_TAG, SEARCH_RUN_ID)
_UNFINISHED = ("RUNNING", "SCHEDULED")


@dataclass
class SyncReport:
    """What one sync did: source run id -> target run id, per outcome."""

    copied: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # already complete on the target
    redone: list[str] = field(default_factory=list)  # half-done copies deleted and copied again
    merged: dict[str, str] = field(default_factory=dict)  # stand-ins and changed sources
    experiments: dict[str, str] = field(default_factory=dict)  # name -> target experiment id

    @property
    def mapping(self) -> dict[str, str]:
        return {**self.skipped, **self.merged, **self.copied}


def sync_runs(
    source_uri: str,
    target_uri: str,
    experiments: list[str] | None = None,
    printer: Callable[[str], None] = print,
    dry_run: bool = False,
) -> SyncReport:
    """Copy the runs of ``source_uri`` (all experiments, or those named) to ``target_uri``."""
    from mlflow.tracking import MlflowClient

    if source_uri == target_uri:
        raise ConfigError(f"sync source and target are the same store ({source_uri!r})")
    check_reachable(
        target_uri,
        hint="start it with `python mlflow_server/start.py` (or check the URI) and sync again",
    )
    quiet_mlflow()
    src = MlflowClient(tracking_uri=source_uri)
    dst = MlflowClient(tracking_uri=target_uri)
    report = SyncReport()
    chosen = _experiments(src, experiments)
    for exp in chosen:
        runs = _all_runs(src, exp.experiment_id)
        if not runs:
            continue
        target_exp = dst.get_experiment_by_name(exp.name)
        if dry_run:
            printer(f"[sync] would copy {len(runs)} run(s) of experiment {exp.name!r}")
            continue
        if target_exp is None:
            exp_id = dst.create_experiment(exp.name, tags=dict(exp.tags))
        elif target_exp.lifecycle_stage != "active":
            raise ConfigError(
                f"experiment {exp.name!r} is deleted on {target_uri!r}; restore it there "
                "(mlflow experiments restore) or delete it permanently, then sync again"
            )
        else:
            exp_id = target_exp.experiment_id
        report.experiments[exp.name] = exp_id
        done, partial = _existing_copies(dst, exp_id)
        for run in _parents_first(runs):
            _sync_one(src, dst, run, exp_id, done, partial, report, source_uri)
        ids = {r.info.run_id for r in runs}
        copied, there, merged = (
            len(ids & set(g)) for g in (report.copied, report.skipped, report.merged)
        )
        printer(
            f"[sync] {exp.name}: {copied} run(s) copied, {there} already there"
            + (f", {merged} brought up to date" if merged else "")
        )
    return report


def _sync_one(src, dst, run, exp_id, done, partial, report: SyncReport, source_uri) -> None:
    """Skip, merge, redo or copy one source run (see the module docstring)."""
    rid = run.info.run_id
    fingerprint = run_fingerprint(run)
    if rid in done:
        target, seen = done[rid]
        if seen in (None, fingerprint):  # None: copied before fingerprints were kept
            report.skipped[rid] = target
            return
        report.merged[rid] = _merge_run(src, dst, run, target, report.mapping, fingerprint)
        return
    server_run = run.data.tags.get(REMOTE_RUN_TAG)
    if server_run and _exists(dst, server_run):  # a stand-in: never delete its server run
        report.merged[rid] = _merge_run(src, dst, run, server_run, report.mapping, fingerprint)
        return
    if rid in partial:
        dst.delete_run(partial[rid])
        report.redone.append(rid)
    report.copied[rid] = _copy_run(src, dst, run, exp_id, report.mapping, source_uri, fingerprint)


def run_fingerprint(run) -> str:
    """A digest of what a source run holds now: status, end, params, tags, latest metrics."""
    data = {
        "status": run.info.status,
        "end": run.info.end_time,
        "params": run.data.params,
        "tags": run.data.tags,
        "metrics": run.data.metrics,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:20]


def _exists(client, run_id: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        client.get_run(run_id)
        return True
    except MlflowException:
        return False


def _experiments(src, names: list[str] | None) -> list:
    from mlflow.entities import ViewType

    found = src.search_experiments(view_type=ViewType.ACTIVE_ONLY, max_results=1000)
    if not names:
        return found
    by_name = {e.name: e for e in found}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise ConfigError(
            f"experiment(s) {missing} not in the source store; it has: "
            + ", ".join(repr(n) for n in sorted(by_name))
        )
    return [by_name[n] for n in names]


def _all_runs(client, experiment_id: str) -> list:
    runs, token = [], None
    while True:
        page = client.search_runs(
            [experiment_id], max_results=1000, page_token=token, order_by=["attributes.start_time"]
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _existing_copies(dst, experiment_id: str) -> tuple[dict, dict[str, str]]:
    """Copies already on the target, by source run id: complete ones as (target id,
    fingerprint of the source when copied), and half-done ones (target id)."""
    done, partial = {}, {}
    for run in _all_runs(dst, experiment_id):
        tags = run.data.tags
        source = tags.get(SOURCE_TAG)
        if not source:
            continue
        if tags.get(COMPLETE_TAG) == "true":
            done[source] = (run.info.run_id, tags.get(FINGERPRINT_TAG))
        else:
            partial[source] = run.info.run_id
    return done, partial


def _parents_first(runs: list) -> list:
    """Order runs so that every parent comes before its children (then by start time)."""
    by_id = {r.info.run_id: r for r in runs}
    ordered, placed = [], set()

    def place(run, seen=()):
        rid = run.info.run_id
        if rid in placed:
            return
        parent = run.data.tags.get(PARENT_TAG)
        if parent in by_id and parent not in seen:
            place(by_id[parent], (*seen, rid))
        placed.add(rid)
        ordered.append(run)

    for run in sorted(runs, key=lambda r: r.info.start_time or 0):
        place(run)
    return ordered


def _copy_run(
    src, dst, run, experiment_id: str, mapping: dict[str, str], source_uri: str, fingerprint: str
) -> str:
    from mlflow.entities import Param

    rid = run.info.run_id
    tags = dict(run.data.tags)
    for key in RUN_ID_TAGS:
        old = tags.get(key)
        if old and old in mapping:
            tags[key] = mapping[old]
        elif old and key == PARENT_TAG:  # parent not copied: keep the link as information
            tags.pop(key)
            tags[SOURCE_PARENT_TAG] = old
    tags[SOURCE_TAG] = rid
    tags[SOURCE_URI_TAG] = _safe_uri(source_uri)
    new = dst.create_run(
        experiment_id,
        start_time=run.info.start_time,
        tags=tags,
        run_name=run.info.run_name,
    )
    new_id = new.info.run_id
    params = [Param(k, v) for k, v in run.data.params.items()]
    for i in range(0, len(params), 100):
        dst.log_batch(new_id, params=params[i : i + 100])
    _copy_contents(src, dst, rid, new_id)
    _finish_copy(dst, run, new_id, fingerprint)
    return new_id


def _merge_run(src, dst, run, target_id: str, mapping: dict[str, str], fingerprint: str) -> str:
    """Add a source run's data to the existing target run ``target_id`` (a stand-in's
    server run, or a copy whose source changed): params it lacks, every metric point (MLflow
    skips identical ones), tags (links rewritten), artifacts, and the final status."""
    from mlflow.entities import Param, RunTag

    rid = run.info.run_id
    target = dst.get_run(target_id)
    have = target.data.params
    params = [Param(k, v) for k, v in run.data.params.items() if k not in have]
    for i in range(0, len(params), 100):
        dst.log_batch(target_id, params=params[i : i + 100])
    tags = {k: v for k, v in run.data.tags.items() if k not in _STAND_IN_ONLY}
    for key in RUN_ID_TAGS:
        if tags.get(key) in mapping:
            tags[key] = mapping[tags[key]]
    tags[SOURCE_TAG] = rid
    dst.log_batch(target_id, tags=[RunTag(k, v) for k, v in tags.items()])
    _copy_contents(src, dst, rid, target_id)
    _finish_copy(dst, run, target_id, fingerprint)
    return target_id


def _copy_contents(src, dst, source_id: str, target_id: str) -> None:
    """Every metric point (with its step and timestamp) and every artifact."""
    from mlflow.entities import Metric

    history: list[Metric] = []
    for key in src.get_run(source_id).data.metrics:
        history.extend(
            Metric(m.key, m.value, m.timestamp, m.step)
            for m in src.get_metric_history(source_id, key)
        )
    for i in range(0, len(history), 1000):
        dst.log_batch(target_id, metrics=history[i : i + 1000])
    if src.list_artifacts(source_id):
        with tempfile.TemporaryDirectory(prefix="accelsearch-sync-") as tmp:
            local = src.download_artifacts(source_id, "", tmp)
            dst.log_artifacts(target_id, local)


def _finish_copy(dst, run, target_id: str, fingerprint: str) -> None:
    from mlflow.entities import RunTag

    dst.log_batch(
        target_id, tags=[RunTag(COMPLETE_TAG, "true"), RunTag(FINGERPRINT_TAG, fingerprint)]
    )
    status = run.info.status
    if status not in _UNFINISHED:
        dst.set_terminated(target_id, status=status, end_time=run.info.end_time or _now_ms())


def _safe_uri(uri: str) -> str:
    """A source URI without credentials (``user:pass@``)."""
    import urllib.parse

    parts = urllib.parse.urlsplit(uri)
    if parts.password or parts.username:
        netloc = parts.hostname or ""
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urllib.parse.urlunsplit(parts)


def _now_ms() -> int:
    return int(time.time() * 1000)


def workspace_store(workspace: str | Path) -> str:
    """The SQLite store of an (offline) workspace, with a clear error when there is none."""

    db = Path(workspace) / "mlflow.db"
    if not db.is_file():
        raise ConfigError(
            f"no MLflow store (mlflow.db) in {str(workspace)!r}; pass --output with the "
            "workspace an offline run wrote (accelsearch run ... --offline --output DIR)"
        )
    return default_tracking_uri(workspace)
