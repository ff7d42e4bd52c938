"""Measuring baselines like trials, and ``baselines.json``, the store that makes it resumable.

Each baseline goes through the search trial's own code (:func:`~accelsearch.search.trial.
evaluate_arch`): built with the run's ``num_classes``, timed by the run's latency backend
(one backend for all, as LACS times the members), counted (params, FLOPs), put on the
roofline (intensity, utilisation), and proxy-trained by the run's accuracy evaluator. The
entry is written to ``baselines.json`` (atomically) as soon as it is measured, keyed by
model, resolution and a fingerprint of the settings (latency spec, accuracy spec,
``num_classes``): a rerun (``accelsearch compare``, ``accelsearch resume``) measures only
what is missing. A baseline whose measurement raises is recorded with its error and the
others go on; ``retry_failed`` measures it again.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import math
import os
import time
import traceback
from pathlib import Path
from typing import Any

import torch

from accelsearch.baselines_preflight import PlannedBaseline, imagenet_table, published_top1
from accelsearch.baselines_spec import BaselinesSpec
from accelsearch.core.errors import AccelSearchError
from accelsearch.objectives import latency
from accelsearch.objectives.accuracy.base import AccuracyEvaluator
from accelsearch.recipe_settings import latency_kwargs, trial_context
from accelsearch.search.trial import TrialContext, evaluate_arch
from accelsearch.spaces.timm_zoo import TimmZooSpace

BASELINES_FILE = "baselines.json"
#: metrics kept from a measurement (the trial's own names)
METRICS = (
    "accuracy",
    "latency_ms",
    "latency_cv",
    "reward",
    "params_m",
    "gflops",
    "gmacs",
    "intensity",
    "utilisation",
)


class LatencyOnly(AccuracyEvaluator):
    """Stands in for the proxy when ``baselines.accuracy`` is false: no training, no accuracy."""

    name = "none"

    def evaluate(self, arch, report=None) -> float:
        return math.nan


def fingerprint(recipe, spec: BaselinesSpec) -> str:
    """What decides a baseline's numbers besides its model and resolution."""
    data = {
        "latency": recipe.latency.model_dump(mode="json"),
        "latency_threads": latency_kwargs(recipe).get("threads"),
        "accuracy": recipe.accuracy.model_dump(mode="json") if spec.accuracy else None,
        "num_classes": recipe.num_classes,
    }
    text = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class BaselineStore:
    """``baselines.json``: measured entries (any settings) plus the latest comparison."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.doc: dict[str, Any] = {"version": 1, "entries": []}
        if self.path.exists():
            try:
                self.doc = json.loads(self.path.read_text())
            except ValueError as exc:
                raise AccelSearchError(
                    f"{self.path} is not valid JSON ({exc}); move it away to measure the "
                    "baselines again"
                ) from None
            self.doc.setdefault("entries", [])

    @property
    def entries(self) -> list[dict[str, Any]]:
        return self.doc["entries"]

    def find(self, model: str, resolution: int, fp: str) -> dict[str, Any] | None:
        for e in self.entries:
            if (e.get("model"), e.get("resolution"), e.get("fingerprint")) == (
                model,
                resolution,
                fp,
            ):
                return e
        return None

    def put(self, entry: dict[str, Any]) -> None:
        old = self.find(entry["model"], entry["resolution"], entry["fingerprint"])
        if old is not None:
            self.entries.remove(old)
        self.entries.append(entry)
        self.save()

    def current(self, planned: list[PlannedBaseline], fp: str) -> list[dict[str, Any]]:
        """The entries of ``planned`` under settings ``fp``, in the planned order."""
        out = []
        for p in planned:
            entry = self.find(p.model, p.arch.resolution, fp)
            if entry is not None:
                entry["line"] = p.line  # the grouping of this comparison, not the first one
                out.append(entry)
        return out

    def save(self) -> None:
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.doc, indent=2, default=str))
        os.replace(tmp, self.path)  # a kill mid-write leaves the previous file whole


def measured_models(run_dir: str | Path, recipe, spec: BaselinesSpec) -> set[str]:
    """Models of ``spec`` that ``run_dir``'s ``baselines.json`` holds, measured under the
    recipe's settings (at ``spec.resolution`` when one is set)."""
    path = Path(run_dir) / BASELINES_FILE
    if not path.exists():
        return set()
    fp = fingerprint(recipe, spec)
    return {
        e["model"]
        for e in BaselineStore(path).entries
        if e.get("fingerprint") == fp
        and e.get("status") == "ok"
        and e.get("model") in spec.names
        and (spec.resolution is None or e.get("resolution") == spec.resolution)
    }


def measure_baselines(
    planned: list[PlannedBaseline],
    recipe,
    spec: BaselinesSpec,
    store: BaselineStore,
    printer=print,
    retry_failed: bool = False,
) -> int:
    """Measure the planned baselines the store lacks; returns how many were measured."""
    fp = fingerprint(recipe, spec)
    todo = []
    for p in planned:
        known = store.find(p.model, p.arch.resolution, fp)
        if known is None or (retry_failed and known.get("status") != "ok"):
            todo.append(p)
    if len(todo) < len(planned):
        printer(
            f"[baselines] {len(planned) - len(todo)} already in {store.path.name}, not measured again"
        )
    if not todo:
        return 0
    evaluator = recipe.accuracy.make() if spec.accuracy else LatencyOnly()
    space = TimmZooSpace(models=[p.model for p in planned])
    ctx = trial_context(recipe, space, evaluator)
    table = None
    threads_before = torch.get_num_threads()
    threads = latency_kwargs(recipe).get("threads")
    try:
        if threads:  # the members were timed in the driver with these threads (LACS)
            torch.set_num_threads(int(threads))
        with latency.get_backend(**latency_kwargs(recipe)) as backend:
            for i, p in enumerate(todo, 1):
                printer(f"[baselines] {i}/{len(todo)} {p.model} at {p.arch.resolution} px ...")
                entry = _measure_one(ctx, p, backend, fp)
                if table is None:
                    table = imagenet_table()
                entry["imagenet"] = published_top1(p.model, table)
                store.put(entry)
                printer(f"[baselines] {p.model}: {_describe(entry)}")
    finally:
        torch.set_num_threads(threads_before)
    return len(todo)


def _measure_one(ctx: TrialContext, p: PlannedBaseline, backend, fp: str) -> dict[str, Any]:
    t0 = time.perf_counter()
    entry: dict[str, Any] = {
        "model": p.model,
        "line": p.line,
        "resolution": p.arch.resolution,
        "train_resolution": p.train_resolution,
        "resolution_rule": p.resolution_rule,
        "arch": str(p.arch),
        "fingerprint": fp,
        "measured_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    try:
        out = evaluate_arch(ctx, p.arch, latency_backend=backend)
    except Exception as exc:  # noqa: BLE001 - one baseline failing (OOM, divergence) ends only it
        entry.update(
            status="failed",
            error=f"{type(exc).__name__}: {exc}"[:1000],
            traceback=traceback.format_exc()[-4000:],
            wall_s=time.perf_counter() - t0,
        )
        return entry
    entry["status"] = "ok"
    for key in METRICS:
        v = out.get(key)
        if isinstance(v, (int, float)) and math.isfinite(v):
            entry[key] = float(v)
    entry["latency"] = {
        k.removeprefix("latency_"): out.get(k)
        for k in ("latency_backend", "latency_device", "latency_precision", "latency_batch_size")
    }
    run = getattr(ctx.evaluator, "last_run", None) or {}
    if run:
        entry["proxy"] = {
            k: run.get(k) for k in ("epochs", "accuracy", "train_s", "eval_s", "train_resolution")
        }
        entry["train_resolution"] = run.get("train_resolution", p.train_resolution)
    entry["wall_s"] = time.perf_counter() - t0
    return entry


def _describe(entry: dict[str, Any]) -> str:
    if entry.get("status") != "ok":
        return f"FAILED ({entry.get('error')})"
    text = f"{entry['latency_ms']:.3f} ms"
    if "accuracy" in entry:
        text += f", proxy accuracy {entry['accuracy']:.2f} % at {entry['train_resolution']} px"
    return text + f" ({entry['wall_s']:.0f} s)"
