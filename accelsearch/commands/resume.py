"""``accelsearch resume RUN_DIR``: continue a run whose driver stopped (search, then LACS)."""

from __future__ import annotations

import argparse

from accelsearch.progress import console_printer, show_status


def resume(args: argparse.Namespace) -> int:
    printer = console_printer()
    try:
        show_status(printer, f"[resume] reading {args.run_dir} (loading PyTorch: a few seconds)")
        # heavy (PyTorch, Ray, MLflow take seconds to import): imported after the first line
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
