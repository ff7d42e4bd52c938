"""``accelsearch sync --output DIR [--tracking-uri URI]``: upload an offline workspace's runs."""

from __future__ import annotations

import argparse

from accelsearch.core.errors import ConfigError
from accelsearch.tracking import read_sync_target
from accelsearch.tracking_sync import sync_runs, workspace_store


def sync(args: argparse.Namespace) -> int:
    source = workspace_store(args.output)
    target = args.tracking_uri or read_sync_target(args.output)
    if not target:
        raise ConfigError(
            "no tracking server to sync to: pass --tracking-uri http://HOST:PORT "
            "(start one with `python mlflow_server/start.py`)"
        )
    print(f"[sync] {source} -> {target}")
    report = sync_runs(source, target, args.experiment or None, dry_run=args.dry_run)
    if not args.dry_run:
        print(
            f"[sync] done: {len(report.copied)} run(s) copied, {len(report.skipped)} already "
            f"there, {len(report.merged)} brought up to date, {len(report.redone)} half-done "
            "copies redone"
        )
    return 0
