"""Benchmark: a survey of timm CNNs (latency, throughput, TFLOP/s, GPU utilisation,
arithmetic intensity, Pareto fronts with ImageNet accuracy).

Runs ``accelsearch survey`` on the built-in list of CNNs (``CNN_SET``, 42 timm models with
ImageNet results) at batch 128, fp16, and summarises it: the fastest models, the range of
utilisation, how utilisation relates to throughput, and which models are on the fronts.
Outputs in ``--out``: ``survey/`` (CSV, JSON, PNG plots of the survey command),
``latency_survey.json`` and ``latency_survey.md``.

GPU (the lead's run; ~3-4 min on one H100 with the defaults):

    PYTHONUNBUFFERED=1 python benchmarks/latency_survey.py --device cuda \\
        --out benchmarks/results/latency --accuracy-csv .data/timm/results-imagenet.csv

CPU check (~1 min): ``python benchmarks/latency_survey.py --quick --device cpu
--out /tmp/survey --accuracy-csv /work/shared/data/timm/results-imagenet.csv``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from latency_common import Results, environment, table


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--quick", action="store_true", help="3 small models on the CPU")
    p.add_argument("--models", default="cnn", help="timm names (comma list) or 'cnn'")
    p.add_argument("--batch-sizes", default="128")
    p.add_argument("--precision", default=None)
    p.add_argument("--backend", default="auto")
    p.add_argument("--accuracy-csv", default=None)
    p.add_argument("--max-seconds", type=float, default=3.0)
    return p.parse_args()


def main() -> None:
    args = parse()
    from accelsearch.cli import build_parser
    from accelsearch.commands import survey as cmd

    out = Path(args.out)
    survey_dir = out / "survey"
    argv = [
        "--models", "resnet10t,lcnet_050,mobilenetv3_small_050" if args.quick else args.models,
        "--batch-sizes", "2" if args.quick else args.batch_sizes,
        "--device", args.device,
        "--backend", args.backend,
        "--max-seconds", str(0.5 if args.quick else args.max_seconds),
        "--out", str(survey_dir),
    ]  # fmt: skip
    if args.quick:
        argv += ["--resolution", "64", "--threads", "1"]
    if args.precision:
        argv += ["--precision", args.precision]
    if args.accuracy_csv:
        argv += ["--accuracy-csv", args.accuracy_csv]
    ns = build_parser().parse_args(["survey", *argv])
    res = Results(
        out / "latency_survey.json",
        {"benchmark": "latency_survey", "env": environment(args.device), "args": vars(args)},
    )
    t0 = time.perf_counter()
    cmd.survey(ns)
    data = json.loads((survey_dir / "survey.json").read_text())
    rows = [r for r in data["rows"] if not r.get("error")]
    for r in data["rows"]:
        res.add(r)
    summary = {
        "models": len(data["rows"]),
        "measured": len(rows),
        "errors": [r["model"] for r in data["rows"] if r.get("error")],
        "seconds": time.perf_counter() - t0,
        "device_name": data["device_name"],
        "backend": data["backend"],
        "precision": data["precision"],
        "peaks": data["peaks"],
    }
    if rows:
        util = np.array([r.get("utilisation") or np.nan for r in rows], dtype=float)
        thr = np.array([r["throughput"] for r in rows], dtype=float)
        inten = np.array([r["intensity"] for r in rows], dtype=float)
        ok = np.isfinite(util)
        summary.update(
            utilisation_min=float(np.nanmin(util)) if ok.any() else None,
            utilisation_median=float(np.nanmedian(util)) if ok.any() else None,
            utilisation_max=float(np.nanmax(util)) if ok.any() else None,
            spearman_utilisation_intensity=_spearman(util[ok], inten[ok]),
            spearman_utilisation_throughput=_spearman(util[ok], thr[ok]),
            pareto_throughput_accuracy=[
                r["model"] for r in rows if r.get("pareto_throughput_accuracy") == 1
            ],
            pareto_utilisation_accuracy=[
                r["model"] for r in rows if r.get("pareto_utilisation_accuracy") == 1
            ],
        )
    res.summary("survey", summary)
    top = sorted(rows, key=lambda r: -r["throughput"])
    cols = ["model", "resolution", "params_m", "gflops", "latency_ms", "throughput", "tflops",
            "utilisation", "intensity", "top1"]  # fmt: skip
    text = table(top, cols)
    (out / "latency_survey.md").write_text(
        f"# Survey of timm CNNs\n\n{summary['device_name']}, {summary['backend']}, "
        f"{summary['precision']}, batch {args.batch_sizes}; peaks {data['peaks']}.\n\n"
        f"Utilisation (achieved ÷ peak FLOP/s): min {summary.get('utilisation_min')}, median "
        f"{summary.get('utilisation_median')}, max {summary.get('utilisation_max')}; Spearman "
        f"ρ(utilisation, intensity) = {summary.get('spearman_utilisation_intensity')}, "
        f"ρ(utilisation, throughput) = {summary.get('spearman_utilisation_throughput')}.\n"
        f"On the throughput–accuracy front: {summary.get('pareto_throughput_accuracy')}.\n\n"
        f"{text}\n"
    )
    print(text)
    print(f"\n[latency_survey] {summary['measured']} models in {summary['seconds']:.0f} s -> {out}")


def _spearman(a, b):
    if len(a) < 3:
        return None
    from scipy.stats import spearmanr

    return float(spearmanr(a, b)[0])


if __name__ == "__main__":
    main()
