"""``accelsearch resume RUN_DIR``: continue a run whose driver stopped (search, then LACS)."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    r = sub.add_parser(
        "resume",
        help="continue an interrupted run: finished trials are kept, the searcher's state restored",
    )
    r.add_argument(
        "run_dir",
        help="the run's folder (<workspace>/<name>-<stamp>) or its workspace (latest run)",
    )
    r.add_argument("--tracking-uri", help="MLflow tracking URI (default: the one the run used)")
    r.add_argument("--address", help="Ray cluster to join ('auto' or host:port); default: local")
    r.add_argument(
        "--trust-checkpoints",
        action="store_true",
        help="resume even if Ray Tune's snapshot does not match the hashes recorded when it was "
        "written (it is read with pickle: only for a run folder you know nobody changed)",
    )
    r.set_defaults(fn=resume)


def resume(args: argparse.Namespace) -> int:
    from accelsearch.progress import console_printer, show_status

    printer = console_printer()
    try:
        show_status(printer, f"[resume] reading {args.run_dir} (loading PyTorch: a few seconds)")
        from accelsearch.pipeline import resume_run

        outcome = resume_run(
            args.run_dir,
            tracking_uri=args.tracking_uri,
            address=args.address,
            trust_checkpoints=args.trust_checkpoints,
            printer=printer,
        )
    finally:
        getattr(printer, "close", lambda: None)()
    print(f"[resume] finished in {outcome.wall_s:.0f} s: {outcome.output_dir}", flush=True)
    return 0
