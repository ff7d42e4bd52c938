"""``accelsearch sync --output DIR [--tracking-uri URI]``: upload an offline workspace's runs."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    s = sub.add_parser(
        "sync",
        help="copy the runs of a workspace's local store (an --offline run) to a tracking server",
    )
    s.add_argument("--output", required=True, help="the workspace folder the run wrote")
    s.add_argument(
        "--tracking-uri",
        help="server to upload to (default: the one the offline run was meant for, "
        "kept in the workspace's sync.json)",
    )
    s.add_argument(
        "--experiment",
        action="append",
        default=[],
        help="copy only this experiment (repeatable; default: all)",
    )
    s.add_argument("--dry-run", action="store_true", help="say what would be copied")
    s.set_defaults(fn=sync)


def sync(args: argparse.Namespace) -> int:
    from accelsearch.core.errors import ConfigError
    from accelsearch.tracking import read_sync_target
    from accelsearch.tracking_sync import sync_runs, workspace_store

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
