"""Baselines for a run that has finished: what ``accelsearch compare RUN_DIR`` does.

The run's folder gives the recipe (``recipe.json``: the latency protocol and the accuracy
proxy to use), the family (``family.json``), the search (``search.json``, for the plot's
Pareto set) and the MLflow store (``search_state.json``). Everything that can fail on a
bad input (no family, an unknown model, a model that cannot follow the proxy) fails before
anything is measured. The baselines section of ``summary.md`` is written (or replaced).
"""

from __future__ import annotations

import json
from pathlib import Path

from mlflow.exceptions import MlflowException
from pydantic import ValidationError

from accelsearch import mlflow_schema as schema
from accelsearch.baselines_measure import measured_models
from accelsearch.baselines_output import put_section
from accelsearch.baselines_preflight import plan_baselines
from accelsearch.baselines_spec import BaselinesSpec, check_names, spec_from_options
from accelsearch.baselines_step import BaselinesOutcome, run_baselines
from accelsearch.core.errors import ConfigError
from accelsearch.pipeline import log_family, make_tracker, resolve_run_dir
from accelsearch.recipe import recipe_from_dict
from accelsearch.scaling.family import Family
from accelsearch.search.driver import STATE_FILE
from accelsearch.search.result import SearchResult
from accelsearch.tracking import Tracker


def load_family(out: Path, recipe) -> Family:
    """The run's family; a clear error, saying how to get one, when it has none."""
    path = out / "family.json"
    if not path.exists():
        if not recipe.scaling.enabled:
            why = (
                "its recipe has scaling disabled, so no family was grown; run the recipe "
                "again with scaling.targets set"
            )
        elif not (out / "search.json").exists():
            why = (
                "its search has not finished; `accelsearch resume "
                f"{out}` finishes it and grows the family"
            )
        else:
            why = f"LACS did not finish; `accelsearch resume {out}` grows the family"
        raise ConfigError(f"run {out} has no family (no family.json): {why}")
    family = Family.load(path)
    if not family.members:
        raise ConfigError(f"{path} has no members: there is nothing to compare the baselines with")
    return family


def baselines_spec(
    recipe, models: list[str] | None, accuracy: bool | None, resolution: int | None
) -> BaselinesSpec:
    """The recipe's ``baselines`` section with the command line's choices over it."""
    if models is not None:
        check_names(models, field="--baselines")
    try:
        spec = spec_from_options(recipe.baselines, models, accuracy, resolution)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"baselines: {problems}") from None
    if not spec.enabled:
        raise ConfigError(
            "no baselines to compare: pass --baselines efficientnet_b0,resnet50,... or add a "
            "baselines section (baselines.models) to the recipe"
        )
    return spec


def compare_run(
    run_dir: str | Path,
    models: list[str] | None = None,
    accuracy: bool | None = None,
    resolution: int | None = None,
    tracking_uri: str | None = None,
    retry_failed: bool = False,
    printer=print,
) -> BaselinesOutcome:
    """Measure baselines like the run's family members and compare (resumable)."""
    out = resolve_run_dir(run_dir)
    recipe = recipe_from_dict(
        json.loads((out / "recipe.json").read_text()), str(out / "recipe.json")
    )
    family = load_family(out, recipe)
    spec = baselines_spec(recipe, models, accuracy, resolution)
    # every check before anything is measured (not again for models measured before)
    planned = plan_baselines(spec, recipe, measured_models(out, recipe, spec))
    result = SearchResult.load(out / "search.json") if (out / "search.json").exists() else None
    state_path = out / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    tracker = make_tracker(recipe, out.parent, tracking_uri or state.get("tracking_uri"))
    family_run_id = family_run(tracker, family, recipe, result, out, printer)
    outcome = run_baselines(
        recipe, spec, out, family, result, tracker, family_run_id, printer, planned, retry_failed
    )
    put_section(out / "summary.md", outcome.section)
    printer(f"[compare] {outcome.measured} measured, {len(outcome.entries)} compared: {out}")
    return outcome


def family_run(tracker: Tracker, family: Family, recipe, result, out: Path, printer=print) -> str:
    """The family's MLflow run in ``tracker``'s store: the one ``family.json`` names, else
    the newest family run of this search with the family's name, else logged now."""
    if family.mlflow_run_id:
        try:
            tracker.client.get_run(family.mlflow_run_id)
            return family.mlflow_run_id
        except MlflowException:
            pass
    query = schema.family_filter(family.name)
    query += " and tags.`accelsearch.scaling_method` = 'lacs'"
    if result is not None and result.mlflow_run_id:
        query += f" and tags.`accelsearch.search_run_id` = '{result.mlflow_run_id}'"
    runs = []
    if "'" not in family.name:  # a quote would end the filter's string early
        runs = tracker.client.search_runs(
            [tracker.experiment_id], query, order_by=["start_time DESC"], max_results=1
        )
    if runs:
        family.mlflow_run_id = runs[0].info.run_id
    else:
        printer(f"[compare] the family is not in {tracker.uri}; logging it there now")
        log_family(tracker, family, recipe, result, out)
    family.save(out / "family.json")
    return family.mlflow_run_id
