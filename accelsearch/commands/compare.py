"""``accelsearch compare RUN_DIR --baselines ...``: published models beside a run's family.

Measures named timm models with the run's latency protocol and accuracy proxy, compares
them with the family's curve and writes ``baselines.json``, ``family_vs_baselines.png``,
the baselines section of ``summary.md`` and MLflow runs (``accelsearch.kind = baseline``,
children of the family run). Resumable: a model already measured is not measured again.
"""

from __future__ import annotations

import argparse


def register(sub) -> None:
    c = sub.add_parser(
        "compare",
        help="measure published timm models like a run's family and compare them with it",
        description=(
            "Measure timm models with the run's latency protocol and accuracy proxy and set "
            "them beside its family (speed-up at equal accuracy, accuracy gain at equal "
            "latency). Models already measured in the run's baselines.json are not measured "
            "again."
        ),
    )
    c.add_argument("run_dir", help="the run's folder (<workspace>/<name>-<stamp>) or its workspace")
    c.add_argument(
        "--baselines",
        metavar="NAMES",
        help="comma-separated timm model names, e.g. efficientnet_b0,efficientnet_b1,resnet50 "
        "(default: the recipe's baselines.models)",
    )
    c.add_argument(
        "--no-accuracy",
        dest="accuracy",
        action="store_false",
        default=None,
        help="time the models only; no proxy training (no accuracy comparison)",
    )
    c.add_argument(
        "--resolution",
        type=int,
        help="input size to build and time the models at (default: each model's own)",
    )
    c.add_argument("--tracking-uri", help="MLflow tracking URI (default: the one the run used)")
    c.add_argument(
        "--retry-failed", action="store_true", help="measure baselines that failed before again"
    )
    c.set_defaults(fn=compare)


def parse_names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [n.strip() for n in text.split(",") if n.strip()]


def compare(args: argparse.Namespace) -> int:
    from accelsearch.baselines_compare import compare_run

    compare_run(
        args.run_dir,
        models=parse_names(args.baselines),
        accuracy=args.accuracy,
        resolution=args.resolution,
        tracking_uri=args.tracking_uri,
        retry_failed=args.retry_failed,
    )
    return 0
