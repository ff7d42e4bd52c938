"""What a search with a budget records: the screened candidates, and the GPU-seconds it spent,
saved and lost (``SearchResult.summary["budget"]``, summary.md; the application layer's
:mod:`accelsearch.mlflow_schema` turns them into MLflow tags and metrics).

GPU-seconds are trial seconds times ``search.gpus_per_trial`` (on a CPU-only search, with
``gpus_per_trial: 0``, they are the trials' own seconds, labelled ``device-s``):

* ``spent``: every trial's building and measuring (``measure_s``) plus its training
  (``train_s``);
* ``on_infeasible``: the part of it that went to candidates over the budget - their
  measurement when the trial stopped there, everything when the screen was off;
* ``saved_by_screen``: each screened candidate would have been built and measured on the GPU:
  their number times the mean measuring time of the trials;
* ``saved_by_measuring_first``: each trial stopped by its measured latency would have been
  trained: their number times the mean training time of the trained trials.

``measured_from_cache`` counts the trials whose latency the latency cache answered
(measured before on this machine): their ``measure_s`` is a lookup's, so ``spent`` is then
less than a run that measured everything would spend.
"""

from __future__ import annotations

from typing import Any

from accelsearch.search.result import TrialRecord

#: what a trial's record keeps of a budgeted result besides the reported metrics
BUDGET_KEYS = (
    "feasible",
    "infeasible",
    "measure_s",
    "train_s",
    "screened",
    "predicted_latency_ms",
    "screen_margin",
)


def screened_record(space, index: int, entry: dict[str, Any]) -> TrialRecord:
    """A candidate the screen rejected, as a trial record with status ``screened``."""
    params = dict(entry.get("params") or {})
    metrics = {k: v for k, v in entry.items() if k != "params"}
    try:
        arch = space.decode(params)
    except Exception:  # noqa: BLE001 - a record is kept even for an undecodable candidate
        arch = None
    return TrialRecord(f"screened-{index:05d}", params, "screened", metrics, arch)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def spending(trials: list[TrialRecord], gpus_per_trial: float) -> dict[str, Any]:
    """Counts and GPU-seconds of a budgeted search (see the module docstring)."""
    ran = [t for t in trials if t.status in ("ok", "infeasible")]
    screened = [t for t in trials if t.status == "screened"]
    measure = [float(t.metrics.get("measure_s", 0.0)) for t in ran]
    train = [float(t.metrics["train_s"]) for t in ran if "train_s" in t.metrics]
    over = [t for t in ran if t.metrics.get("feasible") == 0]
    stopped = [t for t in over if "train_s" not in t.metrics]
    factor = float(gpus_per_trial) if gpus_per_trial > 0 else 1.0

    def s(x: float) -> float:
        return round(factor * x, 3)

    on_infeasible = sum(
        float(t.metrics.get("measure_s", 0.0)) + float(t.metrics.get("train_s", 0.0)) for t in over
    )
    return {
        "unit": "GPU-s" if gpus_per_trial > 0 else "device-s",
        "candidates": len(ran) + len(screened),
        "screened": len(screened),
        "measured": len(ran),
        "measured_infeasible": len(stopped),
        "trained": len(train),
        "trained_infeasible": len(over) - len(stopped),
        "feasible": sum(1 for t in ran if t.metrics.get("feasible") == 1),
        "measured_from_cache": sum(1 for t in ran if t.metrics.get("latency_cached")),
        "seconds": {
            "spent": s(sum(measure) + sum(train)),
            "measuring": s(sum(measure)),
            "training": s(sum(train)),
            "on_infeasible": s(on_infeasible),
            "saved_by_screen": s(len(screened) * _mean(measure)),
            "saved_by_measuring_first": s(len(stopped) * _mean(train)),
        },
    }


def budget_markdown(summary: dict[str, Any]) -> str:
    """The budget section of ``summary.md`` (empty without a budget)."""
    rep = summary.get("budget") if summary else None
    if not rep:
        return ""
    sec, unit = rep["seconds"], rep["unit"]
    screen = summary.get("screen") or {}
    lines = [
        f"Budget: {rep.get('describe', '')}. Candidates proposed: {rep['candidates']}; "
        f"screened before the GPU: {rep['screened']}; measured: {rep['measured']} "
        f"({rep['measured_infeasible']} over the budget, stopped before training); "
        f"trained: {rep['trained']} ({rep['trained_infeasible']} of them over the budget); "
        f"feasible: {rep['feasible']}.",
        "",
        f"| {unit} spent | measuring | training | on infeasible candidates | saved by the "
        f"screen | saved by measuring first |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {sec['spent']:.1f} | {sec['measuring']:.1f} | {sec['training']:.1f} | "
        f"{sec['on_infeasible']:.1f} | {sec['saved_by_screen']:.1f} | "
        f"{sec['saved_by_measuring_first']:.1f} |",
    ]
    cached = rep.get("measured_from_cache", 0)
    if cached:
        lines += [
            "",
            f"{cached} of the {rep['measured']} latencies were read from the latency cache "
            "(measured earlier on this machine, by another run or trial): their measuring "
            f"seconds are a lookup's, so a run that measured them all would spend more {unit}.",
        ]
    if screen:
        margin = screen.get("margin")
        lines += [
            "",
            f"Screen predictor: {screen.get('predictor')}; error margin "
            f"{'-' if margin is None else f'{100 * margin:.1f} %'}.",
        ]
        scale = screen.get("scale")
        if scale is not None and scale != 1.0:
            lines[-1] += (
                f" The table's figures were multiplied by {scale:.3g}, fitted on the trials "
                "measured (the table erred less so)."
            )
        upper_bound = (screen.get("budget") or {}).get("latency_ms") is not None
        if upper_bound and margin is not None and margin >= 1:  # predicted × (1 − margin) <= 0
            lines[-1] += (
                " At a margin of 100 % or more the screen can no longer reject a candidate "
                "for being over the latency budget: this predictor errs too much here; a "
                "lookup table for this GPU (`benchmarks/latency_lut.py`) screens closely."
            )
    if rep.get("best_feasible_search"):  # search.confirm named another
        lines += ["", f"Best feasible trial: `{rep['best_feasible']}` by the confirming runs "
                  f"(by the search's own: `{rep['best_feasible_search']}`)."]  # fmt: skip
    elif rep.get("best_feasible"):
        lines += ["", f"Best feasible trial: `{rep['best_feasible']}`."]
    return "\n".join(lines)
