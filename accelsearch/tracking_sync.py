"""Copy runs from one MLflow store to another: ``accelsearch sync`` after an offline run.

``accelsearch run --offline`` keeps a run's results in the workspace's SQLite store;
:func:`sync_runs` later copies every run of that store to a tracking server, experiment by
experiment (created there by name when missing): run name, status and times, params, tags,
every metric with its whole history (steps and timestamps), the artifacts (uploaded through
the server), and the parent links (``mlflow.parentRunId``, and the family's
``accelsearch.search_run_id``) rewritten to the new run ids.

Each copy carries the tag ``accelsearch.source_run_id`` (and ``accelsearch.sync_complete``
once everything is uploaded), so syncing again skips what is already there and redoes a copy
that an interruption left half done.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from accelsearch.errors import ConfigError
from accelsearch.tracking import check_reachable, quiet_mlflow

SOURCE_TAG = "accelsearch.source_run_id"
COMPLETE_TAG = "accelsearch.sync_complete"
PARENT_TAG = "mlflow.parentRunId"
#: tags whose value is another run's id, rewritten to the copy's id
RUN_ID_TAGS = (PARENT_TAG, "accelsearch.search_run_id")
_UNFINISHED = ("RUNNING", "SCHEDULED")


@dataclass
class SyncReport:
    """What one sync did: source run id -> target run id, per outcome."""

    copied: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # already complete on the target
    redone: list[str] = field(default_factory=list)  # half-done copies deleted and copied again
    experiments: dict[str, str] = field(default_factory=dict)  # name -> target experiment id

    @property
    def mapping(self) -> dict[str, str]:
        return {**self.skipped, **self.copied}


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
            rid = run.info.run_id
            if rid in done:
                report.skipped[rid] = done[rid]
                continue
            if rid in partial:
                dst.delete_run(partial[rid])
                report.redone.append(rid)
            report.copied[rid] = _copy_run(src, dst, run, exp_id, report.mapping, source_uri)
        printer(
            f"[sync] {exp.name}: {sum(r.info.run_id in report.copied for r in runs)} run(s) "
            f"copied, {sum(r.info.run_id in report.skipped for r in runs)} already there"
        )
    return report


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


def _existing_copies(dst, experiment_id: str) -> tuple[dict[str, str], dict[str, str]]:
    """Copies already on the target: complete ones and half-done ones, by source run id."""
    done, partial = {}, {}
    for run in _all_runs(dst, experiment_id):
        source = run.data.tags.get(SOURCE_TAG)
        if source:
            (done if run.data.tags.get(COMPLETE_TAG) == "true" else partial)[source] = (
                run.info.run_id
            )
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


def _copy_run(src, dst, run, experiment_id: str, mapping: dict[str, str], source_uri: str) -> str:
    from mlflow.entities import Metric, Param

    rid = run.info.run_id
    tags = dict(run.data.tags)
    for key in RUN_ID_TAGS:
        old = tags.get(key)
        if old and old in mapping:
            tags[key] = mapping[old]
        elif old and key == PARENT_TAG:  # parent not copied: keep the link as information
            tags.pop(key)
            tags["accelsearch.source_parent_run_id"] = old
    tags[SOURCE_TAG] = rid
    tags["accelsearch.source_uri"] = _safe_uri(source_uri)
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
    history: list[Metric] = []
    for key in run.data.metrics:
        history.extend(
            Metric(m.key, m.value, m.timestamp, m.step) for m in src.get_metric_history(rid, key)
        )
    for i in range(0, len(history), 1000):
        dst.log_batch(new_id, metrics=history[i : i + 1000])
    if src.list_artifacts(rid):
        with tempfile.TemporaryDirectory(prefix="accelsearch-sync-") as tmp:
            local = src.download_artifacts(rid, "", tmp)
            dst.log_artifacts(new_id, local)
    dst.set_tag(new_id, COMPLETE_TAG, "true")
    status = run.info.status
    if status not in _UNFINISHED:
        dst.set_terminated(new_id, status=status, end_time=run.info.end_time or _now_ms())
    return new_id


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
    from accelsearch.tracking import default_tracking_uri

    db = Path(workspace) / "mlflow.db"
    if not db.is_file():
        raise ConfigError(
            f"no MLflow store (mlflow.db) in {str(workspace)!r}; pass --output with the "
            "workspace an offline run wrote (accelsearch run ... --offline --output DIR)"
        )
    return default_tracking_uri(workspace)
