"""``accelsearch compare RUN_DIR --baselines ...``: published models beside a run's family.

Measures named timm models with the run's latency protocol and accuracy proxy, compares
them with the family's curve and writes ``baselines.json``, ``family_vs_baselines.png``,
the baselines section of ``summary.md`` and MLflow runs (``accelsearch.kind = baseline``,
children of the family run). Resumable: a model already measured is not measured again.
"""

from __future__ import annotations

import argparse

from accelsearch.baselines_compare import compare_run


def parse_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]


def compare(args: argparse.Namespace) -> int:
    compare_run(
        args.run_dir,
        models=parse_names(args.baselines),
        accuracy=args.accuracy,
        resolution=args.resolution,
        tracking_uri=args.tracking_uri,
        retry_failed=args.retry_failed,
    )
    return 0
