"""``accelsearch survey``: latency, throughput and GPU utilisation of many models at once.

Measures a list of timm models (``--models resnet50,efficientnet_b0`` or ``--models cnn``
for the built-in list of CNNs) or a space's reference architectures (``--space
efficientnet_x``) at the given batch sizes and precision, and writes to ``--out``:

* ``survey.csv``: model, params, GFLOPs, latency, throughput, achieved TFLOP/s,
  utilisation, intensity (and with ``--accuracy-csv``: top-1 and on-Pareto flags for
  throughput–accuracy, utilisation–accuracy and throughput–utilisation);
* ``survey.json``: the same rows with the device, versions, peaks and settings;
* ``throughput_vs_utilisation.png`` and ``roofline.png``.

The accuracy CSV is timm's ``results-imagenet.csv`` (``model`` is ``arch.tag``; a
``param_count`` may be quoted with a thousands separator); a model's row is its default
pretrained tag's, and unless ``--resolution`` is given the model is measured at that row's
``img_size`` so that throughput and accuracy refer to the same input. A model that fails
(out of memory, unknown name) gets a row with its ``error`` and the survey goes on.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import sys
import time
from pathlib import Path
from typing import Any

from accelsearch import spaces
from accelsearch.commands.survey_accuracy import AccuracyRow as AccuracyRow
from accelsearch.commands.survey_accuracy import match_accuracy as match_accuracy
from accelsearch.commands.survey_accuracy import read_accuracy_csv as read_accuracy_csv
from accelsearch.core.accounting import arch_stats, model_stats
from accelsearch.core.arch import Arch
from accelsearch.core.errors import AccelSearchError, ConfigError
from accelsearch.objectives import latency, roofline
from accelsearch.objectives.latency.device import base_versions

#: timm CNNs with ImageNet results in timm's results-imagenet.csv (``--models cnn``)
CNN_SET = (
    "resnet18 resnet34 resnet50 resnet101 resnet50d resnext50_32x4d wide_resnet50_2 "
    "seresnext50_32x4d ecaresnet50t resnest50d regnetx_032 regnety_016 regnety_032 "
    "regnety_040 regnetz_b16 efficientnet_b0 efficientnet_b1 efficientnet_b2 efficientnet_b3 "
    "efficientnet_lite0 tf_efficientnetv2_s mobilenetv2_100 mobilenetv3_large_100 "
    "mobilenetv4_conv_medium mnasnet_100 spnasnet_100 fbnetc_100 mixnet_m ghostnet_100 "
    "lcnet_100 rexnet_100 densenet121 convnext_nano convnext_tiny gernet_s gernet_m gernet_l "
    "repvgg_a2 dla34 dpn68 cspresnet50 darknet53"
).split()

CSV_COLUMNS = (
    "model",
    "source",
    "resolution",
    "batch_size",
    "precision",
    "backend",
    "mode",
    "device_name",
    "params_m",
    "gflops",
    "latency_ms",
    "latency_cv",
    "throughput",
    "tflops",
    "utilisation",
    "intensity",
    "efficiency",
    "memory_bound",
    "top1",
    "accuracy_model",
    "pareto_throughput_accuracy",
    "pareto_utilisation_accuracy",
    "pareto_throughput_utilisation",
    "cached",
    "error",
)


def pareto_mask(x: list[float | None], y: list[float | None]) -> list[bool]:
    """True where (x, y) is not dominated (both maximised); missing values are never on it."""
    pts = [(i, a, b) for i, (a, b) in enumerate(zip(x, y)) if _finite(a) and _finite(b)]
    out = [False] * len(x)
    for i, a, b in pts:
        dominated = any((a2 >= a and b2 >= b) and (a2 > a or b2 > b) for j, a2, b2 in pts if j != i)
        out[i] = not dominated
    return out


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


# -- measuring ----------------------------------------------------------------------------
def _targets(args: argparse.Namespace) -> list[tuple[str, str, Any]]:
    """(name, source, factory) for every model to measure."""

    if args.space:
        space = spaces.get(args.space)
        refs = space.references()
        if not refs:
            raise ConfigError(f"space {args.space!r} has no reference architectures")
        return [(name, f"space:{args.space}", fn) for name, fn in refs.items()]
    names = CNN_SET if args.models.strip() == "cnn" else [m.strip() for m in args.models.split(",")]
    names = [n for n in names if n]
    if not names:
        raise ConfigError("--models is empty; give timm model names or 'cnn'")
    return [(n, "timm", None) for n in names]


def _ints(text: str, what: str) -> list[int]:
    try:
        vals = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} must be comma-separated integers, got {text!r}") from None
    if not vals or any(v < 1 for v in vals):
        raise ConfigError(f"{what} must be positive integers, got {text!r}")
    return vals


def survey(args: argparse.Namespace) -> int:
    import torch

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    batches = _ints(args.batch_sizes, "--batch-sizes")
    targets = _targets(args)
    acc_rows = read_accuracy_csv(args.accuracy_csv) if args.accuracy_csv else {}
    options: dict[str, Any] = {}
    if args.threads:
        options["threads"] = args.threads
    protocol = {"max_seconds": args.max_seconds}
    backend = latency.get_backend(
        args.backend,
        args.device,
        args.precision,
        protocol,
        cache=not args.no_cache,
        **options,
    )
    precision = backend.precision
    peaks = None
    try:
        peaks = roofline.peaks_for(
            backend.device_name,
            precision,
            device=backend.device,
            calibrate_if_missing=not args.no_calibrate,
        )
    except AccelSearchError as exc:
        print(f"[survey] no peaks for {backend.device_name}: {exc}", file=sys.stderr)
    print(
        f"[survey] {len(targets)} model(s) × batch {batches} on {backend.device_name} "
        f"({backend.name}, {precision})"
        + (
            f"; peaks {peaks.flops / 1e12:.1f} TFLOP/s, {peaks.bandwidth / 1e12:.2f} TB/s "
            f"({peaks.source})"
            if peaks
            else ""
        )
    )
    rows: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    with backend:
        for name, source, factory in targets:
            for batch in batches:
                row: dict[str, Any] = {
                    "model": name,
                    "source": source,
                    "batch_size": batch,
                    "precision": precision,
                }
                try:
                    model, resolution, acc = _build(name, factory, args.resolution, acc_rows)
                    row["resolution"] = resolution
                    if acc is not None:
                        row["top1"] = acc.top1
                        row["accuracy_model"] = acc.model
                    if isinstance(model, Arch):
                        stats = arch_stats(model, batch, precision)
                    else:
                        stats = model_stats(model, resolution, batch, precision)
                    res = backend.measure(model, batch, resolution)
                    row.update(_row_numbers(stats, res, peaks))
                except (AccelSearchError, RuntimeError, ValueError, KeyError) as exc:
                    row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
                    if torch.cuda.is_available():
                        torch.cuda.empty_cache()
                rows.append(row)
                _print_row(row)
                _write_outputs(out, rows, args, backend, peaks, batches)
    _add_pareto(rows)
    _write_outputs(out, rows, args, backend, peaks, batches)
    _plots(out, rows, peaks)
    print(f"[survey] {len(rows)} row(s) in {time.perf_counter() - t_start:.0f} s -> {out}")
    return 0


def _build(name: str, factory, resolution: int | None, acc_rows):
    if factory is not None:
        arch = factory()
        if resolution:
            arch = arch.replace(resolution=resolution)
        return arch, arch.resolution, None
    import timm

    if name not in timm.list_models():
        raise ConfigError(f"unknown timm model {name!r}; see timm.list_models()")
    model = timm.create_model(name, pretrained=False)
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    default = int(cfg.get("input_size", (3, 224, 224))[-1])
    acc = (
        match_accuracy(acc_rows, name, cfg.get("tag"), resolution or default) if acc_rows else None
    )
    if resolution is None:
        resolution = acc.img_size if acc is not None and acc.img_size else default
    return model, resolution, acc


def _row_numbers(stats, res, peaks) -> dict[str, Any]:
    row = {
        "backend": res.backend,
        "mode": res.mode,
        "device_name": res.device_name,
        "params_m": stats.params / 1e6,
        "gflops": 2 * stats.macs / 1e9,
        "latency_ms": res.median_ms,
        "latency_cv": res.cv,
        "throughput": res.throughput,
        "tflops": stats.flops / (res.median_ms / 1000) / 1e12,
        "intensity": stats.intensity,
        "cached": res.cached,
    }
    if peaks is not None:
        net = roofline.analyze(stats, peaks, latency_ms=res.median_ms).network
        row.update(
            utilisation=net.utilisation, efficiency=net.efficiency, memory_bound=net.memory_bound
        )
    return row


def _add_pareto(rows: list[dict[str, Any]]) -> None:
    """On-Pareto flags within each batch size (all maximised)."""
    for batch in sorted({r["batch_size"] for r in rows}):
        group = [r for r in rows if r["batch_size"] == batch and not r.get("error")]
        pairs = {
            "pareto_throughput_accuracy": ("throughput", "top1"),
            "pareto_utilisation_accuracy": ("utilisation", "top1"),
            "pareto_throughput_utilisation": ("throughput", "utilisation"),
        }
        for col, (a, b) in pairs.items():
            mask = pareto_mask([r.get(a) for r in group], [r.get(b) for r in group])
            have = any(_finite(r.get(a)) and _finite(r.get(b)) for r in group)
            for r, m in zip(group, mask):
                r[col] = int(m) if have else ""


def _print_row(row: dict[str, Any]) -> None:
    if row.get("error"):
        print(f"  {row['model']:<28} b{row['batch_size']:<4} ERROR {row['error']}")
        return
    util = row.get("utilisation")
    print(
        f"  {row['model']:<28} b{row['batch_size']:<4} {row['resolution']:>4}px "
        f"{row['latency_ms']:9.3f} ms {row['throughput']:10.0f} img/s "
        f"{row['tflops']:7.2f} TFLOP/s "
        + (f"util {util * 100:5.1f}% " if _finite(util) else "")
        + f"I {row['intensity']:6.1f}"
        + (" (cached)" if row.get("cached") else "")
    )


def _versions() -> dict[str, str]:
    return base_versions()


def _write_outputs(out: Path, rows, args, backend, peaks, batches) -> None:
    with open(out / "survey.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(r.get(k)) for k in CSV_COLUMNS})
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "device_name": backend.device_name,
        "backend": backend.name,
        "requested_backend": args.backend,
        "precision": backend.precision,
        "batch_sizes": batches,
        "versions": _versions(),
        "python": platform.python_version(),
        "peaks": None
        if peaks is None
        else {
            "flops": peaks.flops,
            "bandwidth": peaks.bandwidth,
            "source": peaks.source,
            "ridge": peaks.ridge,
        },
        "accuracy_csv": args.accuracy_csv,
        "rows": rows,
    }
    (out / "survey.json").write_text(json.dumps(meta, indent=1, default=str))


def _fmt(v: Any) -> Any:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v


def _plots(out: Path, rows: list[dict[str, Any]], peaks) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [r for r in rows if not r.get("error") and _finite(r.get("throughput"))]
    if not ok:
        return
    fig, ax = plt.subplots(figsize=(7, 5))
    for batch in sorted({r["batch_size"] for r in ok}):
        grp = [r for r in ok if r["batch_size"] == batch]
        xs = [r.get("utilisation") if _finite(r.get("utilisation")) else r["tflops"] for r in grp]
        ax.scatter(xs, [r["throughput"] for r in grp], s=18, label=f"batch {batch}")
        for r, x in zip(grp, xs):
            ax.annotate(r["model"], (x, r["throughput"]), fontsize=6, alpha=0.8)
    have_util = any(_finite(r.get("utilisation")) for r in ok)
    ax.set_xlabel("GPU utilisation (achieved ÷ peak FLOP/s)" if have_util else "achieved TFLOP/s")
    ax.set_ylabel("throughput (images/s)")
    ax.set_yscale("log")
    ax.set_title(f"{ok[0].get('device_name', '')}, {ok[0]['precision']}", fontsize=8)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "throughput_vs_utilisation.png", dpi=120)
    plt.close(fig)
    if peaks is not None:
        pts = [
            (f"{r['model']}@{r['batch_size']}", r["intensity"], r["tflops"] * 1e12)
            for r in ok
            if _finite(r.get("intensity")) and r["intensity"] > 0
        ]
        if pts:
            roofline.plot_roofline(pts, peaks, out / "roofline.png")
