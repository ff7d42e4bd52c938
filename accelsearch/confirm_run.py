"""The confirm step of a run: the search's best trials trained again on other seeds.

:func:`confirm_of_run` is what :func:`accelsearch.pipeline.finish_run` calls after the
search and before LACS when the recipe sets ``search.confirm.top``
(:mod:`accelsearch.search.confirm` says why and how the winner is then named). The runs
are trained one after another in this process, with the recipe's evaluator on each run's
seed; each result is kept in the run folder's ``confirm_checkpoint.json`` as it comes, so
a run stopped here goes on with the runs not yet trained when resumed. The confirmed
figures are logged to the trials' MLflow runs once, when the last run is in.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from accelsearch import mlflow_schema as schema
from accelsearch.objectives.accuracy.train import timed_evaluate
from accelsearch.objectives.reward import mnas_reward
from accelsearch.progress import show_status
from accelsearch.recipe import Recipe
from accelsearch.search import confirm, strategy
from accelsearch.search.result import SearchResult
from accelsearch.search.trial import proxy_run_metrics

CHECKPOINT = "confirm_checkpoint.json"  # in the run folder: the confirming runs so far


def confirm_of_run(
    recipe: Recipe, result: SearchResult, out: Path, tracker, printer=print
) -> dict[str, Any] | None:
    """Train the recipe's ``search.confirm.top`` best trials again, name the winner by the
    mean of those runs, and return the summary (also ``result.summary["confirm"]``);
    ``None`` when the recipe asks for no confirmation or no trial can be confirmed."""
    spec = recipe.search.confirm
    if not spec.top:
        return None
    seeds = confirm.confirm_seeds(
        int(recipe.accuracy.options.get("seed", 0)), max(spec.seeds, spec.max_seeds or 0)
    )
    plan = confirm.plan(
        result, ranking_metric(recipe), spec.top, seeds[: spec.seeds], seeds[spec.seeds :]
    )
    if not plan.trial_ids:
        printer("[confirm] no feasible completed trial to confirm")
        return None
    path = out / CHECKPOINT
    state = _read(path)

    def reward_of(acc: float, latency_ms: float) -> float:
        return mnas_reward(acc, latency_ms, recipe.reward.target_ms, recipe.reward.w)

    done = {(r["trial_id"], r["seed"]) for r in state["runs"]}
    todo = [run for run in plan.runs() if run not in done]
    _train(
        recipe, result, todo, state, path, printer, f"{len(plan.runs()) - len(todo)} done before"
    )
    summary = confirm.apply(result, plan, _accuracies(state), reward_of)
    while runs := confirm.race_runs(plan, _accuracies(state), summary):
        lead = summary["lead"]
        why = f"race: lead {lead['points']:.2f}" + (
            f" ± {lead['se']:.2f}, not told apart" if lead["se"] is not None else ", no spread yet"
        )
        if not _train(recipe, result, runs, state, path, printer, why):
            break  # a failed run ends the race; a resume trains it again and goes on
        summary = confirm.apply(result, plan, _accuracies(state), reward_of)
    summary["errors"] = _open_errors(state, plan)
    summary["train_s"] = sum(r["seconds"] for r in state["runs"] if _planned(r, plan))
    result.summary["confirm"] = summary
    _rename_best_feasible(recipe, result)
    logged = sorted([r["trial_id"], r["seed"]] for r in state["runs"] if _planned(r, plan))
    if state.get("logged") != logged:  # new runs (a resume, other settings): log them again
        _log(tracker, result, summary)
        state["logged"] = logged
        _write(path, state)
    printer(confirm.describe(summary))
    return summary


def ranking_metric(recipe: Recipe) -> str:
    """``search.confirm.by``, else the search's first objective when it is accuracy or
    reward, else reward."""
    if recipe.search.confirm.by:
        return recipe.search.confirm.by
    first = strategy.objective_from_options(recipe.search.options).metrics[0]
    return first if first in confirm.RANKED_BY else "reward"


def _train(recipe, result, runs, state, path: Path, printer, why: str) -> bool:
    """Train ``runs`` ((trial id, seed) pairs), saving each in ``state`` as it comes; False
    when one failed (recorded in ``state["errors"]``; the others still train)."""
    arches = {t.trial_id: t.arch for t in result.trials}  # a completed trial's is decoded
    ok = True
    for i, (tid, seed) in enumerate(runs, 1):
        show_status(
            printer,
            f"[confirm] training trial {tid} on seed {seed} ({i} of {len(runs)} runs; {why})",
        )
        try:
            run = train_run(recipe, arches[tid], seed)
        except Exception as exc:  # noqa: BLE001 - recorded; the others go on, a resume retries
            printer(f"[confirm] trial {tid}, seed {seed} failed: {type(exc).__name__}: {exc}")
            state.setdefault("errors", []).append(
                {"trial_id": tid, "seed": seed, "error": f"{type(exc).__name__}: {exc}"[:1000]}
            )
            _write(path, state)
            ok = False
            continue
        state["runs"].append({"trial_id": tid, "seed": seed, **run})
        _write(path, state)
        printer(
            f"[confirm] trial {tid}, seed {seed}: {run['accuracy']:.2f} % in {run['seconds']:.0f} s"
        )
    return ok


def train_run(recipe: Recipe, arch, seed: int) -> dict[str, Any]:
    """One training of ``arch`` with the recipe's evaluator on ``seed``: its accuracy,
    seconds, what the evaluator says of the run (:func:`proxy_run_metrics`) and its
    per-epoch curves. Raises what the evaluator raises."""
    evaluator = seeded_evaluator(recipe, seed)
    acc, seconds = timed_evaluate(evaluator, arch)
    run = getattr(evaluator, "last_run", None) or {}
    return {
        "accuracy": float(acc),
        "seconds": seconds,
        **proxy_run_metrics(evaluator),
        # per epoch: to tell a slow start from a spike when one run falls far below the
        # others (on an H100 two runs of one network were 6.9 points apart)
        "epoch_accuracy": _rounded(run.get("accuracy")),
        "epoch_train_loss": _rounded(run.get("train_loss")),
    }


def seeded_evaluator(recipe: Recipe, seed: int):
    """The recipe's accuracy evaluator, training on ``seed``."""
    options = {**recipe.accuracy.options, "seed": seed}
    return recipe.accuracy.model_copy(update={"options": options}).make()


# -- the checkpoint and MLflow ------------------------------------------------------------
def _log(tracker, result: SearchResult, summary: dict[str, Any]) -> None:
    if tracker is None:
        return
    by_id = {t.trial_id: t for t in result.trials}
    for row in summary["trials"]:
        run_id = by_id[row["trial_id"]].mlflow_run_id
        if run_id:
            metrics = by_id[row["trial_id"]].metrics
            tracker.log_metrics(run_id, {k: metrics[k] for k in confirm.CONFIRMED_METRICS})
            tracker.set_tags(run_id, {schema.CONFIRMED: "true"})
    if result.mlflow_run_id:
        tracker.set_tags(
            result.mlflow_run_id,
            {schema.CONFIRMED_WINNER: summary["winner_confirmed"],
             schema.CONFIRM_CHANGED: str(summary["changed"]).lower()},
        )  # fmt: skip
        tracker.log_json(result.mlflow_run_id, summary, "confirm.json")


def _rename_best_feasible(recipe: Recipe, result: SearchResult) -> None:
    """The budget report's best feasible trial, named again now that the confirmed
    figures count (:meth:`SearchResult.best`); the search's own pick is kept beside."""
    budget = result.summary.get("budget") or {}
    if not budget.get("best_feasible"):
        return
    metric = strategy.objective_from_options(recipe.search.options).metrics[0]
    now = result.best(metric, strategy.METRIC_MODES.get(metric, "max")).trial_id
    if now != budget["best_feasible"]:
        budget["best_feasible_search"] = budget["best_feasible"]
        budget["best_feasible"] = now


def _open_errors(state: dict[str, Any], plan: confirm.ConfirmPlan) -> list[dict[str, Any]]:
    """The last error of each planned run that has not been trained since."""
    done = {(r["trial_id"], r["seed"]) for r in state["runs"]}
    last = {(e["trial_id"], e["seed"]): e for e in state.get("errors", [])}
    return [e for key, e in last.items() if key not in done and _planned(e, plan)]


def _planned(run: dict[str, Any], plan: confirm.ConfirmPlan) -> bool:
    return run["trial_id"] in plan.trial_ids and run["seed"] in plan.all_seeds


def _accuracies(state: dict[str, Any]) -> dict[str, dict[int, float]]:
    out: dict[str, dict[int, float]] = {}
    for r in state["runs"]:
        out.setdefault(r["trial_id"], {})[r["seed"]] = r["accuracy"]
    return out


def _rounded(values) -> list[float]:
    return [round(float(v), 4) for v in values or []]


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {"runs": []}


def _write(path: Path, state: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)  # a stop mid-write leaves the last whole checkpoint
