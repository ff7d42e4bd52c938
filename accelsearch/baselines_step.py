"""The baselines step, as ``accelsearch run`` (after the family) and ``accelsearch compare``
run it: plan and check, measure what ``baselines.json`` lacks, compare with the family's
curve, draw the plot, log to MLflow and give back the ``summary.md`` section.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accelsearch.baselines_curve import Curve, compare_lines
from accelsearch.baselines_measure import (
    BASELINES_FILE,
    BaselineStore,
    fingerprint,
    measure_baselines,
)
from accelsearch.baselines_output import (
    PLOT_FILE,
    baselines_markdown,
    comparison_plot,
    log_baseline_runs,
    log_comparison,
)
from accelsearch.baselines_preflight import PlannedBaseline, plan_baselines
from accelsearch.baselines_spec import BaselinesSpec
from accelsearch.scaling.family import Family
from accelsearch.tracking import Tracker


@dataclass
class BaselinesOutcome:
    doc: dict[str, Any]  # baselines.json as written
    entries: list[dict[str, Any]]  # this comparison's baselines (measured now or before)
    section: str  # the summary.md section
    measured: int = 0  # baselines measured by this call
    logged: int = 0  # MLflow runs created by this call
    statements: list[str] = field(default_factory=list)


def run_baselines(
    recipe,
    spec: BaselinesSpec,
    run_dir: Path,
    family: Family,
    result=None,
    tracker: Tracker | None = None,
    family_run_id: str | None = None,
    printer=print,
    planned: list[PlannedBaseline] | None = None,
    retry_failed: bool = False,
) -> BaselinesOutcome:
    """Measure ``spec``'s baselines like ``family``'s members and compare them.

    ``planned``: the result of :func:`plan_baselines` when the caller checked already
    (``accelsearch run`` checks before the search starts).
    """
    planned = planned if planned is not None else plan_baselines(spec, recipe)
    store = BaselineStore(Path(run_dir) / BASELINES_FILE)
    measured = measure_baselines(planned, recipe, spec, store, printer, retry_failed)
    entries = store.current(planned, fingerprint(recipe, spec))
    store.doc["comparison"] = comparison_doc(recipe, spec, family, entries)
    store.save()
    if any("accuracy" in e for e in entries):
        _save_plot(family, result, entries, Path(run_dir), recipe)
    logged = 0
    if tracker is not None and family_run_id:
        logged = log_baseline_runs(tracker, family_run_id, family.name, entries)
        store.save()  # the entries now remember their MLflow runs
        log_comparison(tracker, family_run_id, store.doc, Path(run_dir))
    statements = [s["statement"] for s in store.doc["comparison"]["lines"]]
    for text in statements:
        printer(f"[baselines] {text}")
    section = baselines_markdown(store.doc, entries)
    return BaselinesOutcome(store.doc, entries, section, measured, logged, statements)


def comparison_doc(recipe, spec: BaselinesSpec, family: Family, entries) -> dict[str, Any]:
    """The comparison as ``baselines.json`` keeps it (points, lines, the conditions)."""
    curve = Curve.of((m.latency_ms, m.accuracy) for m in family.members)
    ok = [e for e in entries if e.get("status") == "ok"]
    points, lines = compare_lines(curve, ok) if spec.accuracy else ([], [])
    notes = conditions(recipe, spec, family, entries)
    if spec.accuracy and not curve:
        notes.append("no comparison: the family's members have no proxy accuracy")
    return {
        "updated_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "family": {
            "name": family.name,
            "mlflow_run_id": family.mlflow_run_id,
            "curve": [list(p) for p in curve.points],
            "members": [m.name for m in family.members],
        },
        "settings": {
            "latency": recipe.latency.model_dump(mode="json"),
            "accuracy": recipe.accuracy.model_dump(mode="json") if spec.accuracy else None,
            "baselines": spec.model_dump(mode="json"),
            "fingerprint": fingerprint(recipe, spec),
        },
        "conditions": notes,
        "points": [p.to_dict() for p in points],
        "lines": [s.to_dict() for s in lines],
    }


def conditions(recipe, spec: BaselinesSpec, family: Family, entries) -> list[str]:
    """What the numbers were measured under, and where baselines and family differ."""
    lat = recipe.latency
    members = {_member_conditions(m.latency) for m in family.members if m.latency}
    baselines = {_entry_conditions(e) for e in entries if e.get("latency")}
    out = [
        f"latency: the run's spec for members and baselines alike (backend {lat.backend}, "
        f"device {lat.device}, precision {lat.precision or 'default'}, batch {lat.batch_size}"
        + (f", protocol {lat.protocol})" if lat.protocol else ")")
        + f"; members timed as {', '.join(sorted(members)) or '?'}; baselines as "
        + (", ".join(sorted(baselines)) or "?")
    ]
    if spec.accuracy:
        trained = ", ".join(
            f"{e['model']} {e['train_resolution']} px" for e in entries if e.get("train_resolution")
        )
        out.append(
            f"proxy accuracy: the run's evaluator for members and baselines alike "
            f"({recipe.accuracy.evaluator} {recipe.accuracy.options}); baselines trained at "
            f"{trained or '-'}"
        )
    else:
        out.append("proxy accuracy: not measured (baselines.accuracy: false)")
    out.append(
        "ImageNet top-1: timm's published results (results-imagenet.csv as packaged in "
        "accelsearch.data, each model's default pretrained tag)"
    )
    devices = {m.latency.get("device_name") for m in family.members if m.latency}
    devices_b = {e.get("latency", {}).get("device") for e in entries if e.get("latency")}
    devices.discard(None)
    devices_b.discard(None)
    if devices and devices_b and devices != devices_b:
        out.append(
            f"WARNING: the family was timed on {sorted(devices)} and the baselines on "
            f"{sorted(devices_b)}: the latencies are not comparable; run `accelsearch compare` "
            "on the family's device"
        )
    return out


def _member_conditions(lat: dict[str, Any]) -> str:
    backend = lat.get("backend", "?") + (f"/{lat['mode']}" if lat.get("mode") else "")
    return (
        f"{backend} on {lat.get('device_name', '?')}, {lat.get('precision', '?')}, "
        f"batch {lat.get('batch_size', '?')}"
    )


def _entry_conditions(e: dict[str, Any]) -> str:
    lat = e["latency"]
    return (
        f"{lat.get('backend', '?')} on {lat.get('device', '?')}, {lat.get('precision', '?')}, "
        f"batch {lat.get('batch_size', '?')}"
    )


def _save_plot(family, result, entries, run_dir: Path, recipe) -> None:
    import matplotlib.pyplot as plt  # heavy optional import: only when a plot is drawn

    timed = sorted({_entry_conditions(e) for e in entries if e.get("latency")})
    fig = comparison_plot(family, result, entries, "; ".join(timed))
    fig.savefig(run_dir / PLOT_FILE, dpi=120)
    plt.close(fig)
