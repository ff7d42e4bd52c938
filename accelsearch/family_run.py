"""The family step of a run: LACS from the search's best model, checkpointed, logged.

:func:`family_of_run` is what :func:`accelsearch.pipeline.finish_run` calls: it grows the
family with :func:`grow_family` (LACS with the recipe's latency, accuracy, reward and scaling
settings), keeping every measured latency and evaluated accuracy in the run folder's
``lacs_checkpoint.json`` as it goes, so a run stopped during LACS goes on from there when
resumed; it then logs the family (:func:`log_family`) and saves ``family.json`` with its
MLflow run id, after which a resume leaves the family exactly as it is.
"""

from __future__ import annotations

from pathlib import Path

import torch

from accelsearch import mlflow_schema as schema
from accelsearch import plots, report
from accelsearch.core.accounting import model_cost
from accelsearch.core.builder import build_model
from accelsearch.core.errors import AccelSearchError
from accelsearch.objectives import latency, roofline
from accelsearch.objectives.reward import mnas_reward
from accelsearch.recipe import Recipe
from accelsearch.recipe_settings import latency_kwargs
from accelsearch.scaling.evaluations import Evaluations
from accelsearch.scaling.family import Family
from accelsearch.scaling.grid import resolve_targets
from accelsearch.scaling.lacs import LACS
from accelsearch.search.result import SearchResult
from accelsearch.tracking import Tracker

LACS_CHECKPOINT = "lacs_checkpoint.json"  # in the run folder: LACS's measurements so far


def family_of_run(recipe, result, out: Path, tracker, printer=print, space=None) -> Family:
    """The run's family: grown by LACS from the best trial (going on from the run folder's
    LACS checkpoint after a stop) and logged; or, when ``family.json`` holds a family that
    was finished and logged before (a resume), left exactly as it is."""
    path = out / "family.json"
    if path.exists():
        family = Family.load(path)
        if family.mlflow_run_id:
            printer(
                f"[run] the family was finished before (MLflow run {family.mlflow_run_id}): "
                "left as it is"
            )
            return family
        printer("[run] the family was finished but not logged to MLflow: logging it now")
    else:
        best = result.best()
        printer(
            f"[run] best base model: trial {best.trial_id}, reward {best.metrics['reward']:.3f}"
        )
        family = grow_family(
            recipe,
            best.arch,
            best.metrics.get("accuracy"),
            printer=printer,
            space=space,
            checkpoint=out / LACS_CHECKPOINT,
        )
        family.save(path)
    log_family(tracker, family, recipe, result, out)
    family.save(path)  # with its MLflow run id: a resume leaves it alone
    return family


class GenericBuilder:
    """Stands in for a space when an arch's space is unknown (an arch.json on its own):
    the generic builder and the default rounding (channels and resolution by 8)."""

    name = "generic"

    def build(self, arch, num_classes: int = 1000, **kwargs):
        return build_model(arch, num_classes=num_classes, **kwargs)


def efficiency_function(num_classes: int = 1000):
    """``(arch, latency_result) -> {"intensity", "utilisation"}`` from the roofline
    (``accelsearch.objectives.roofline.efficiency_metrics``); an error there leaves the
    member's intensity and utilisation empty and says why (``efficiency_error``)."""
    metrics = roofline.efficiency_metrics

    def efficiency(arch, result):
        if result is None:  # bare milliseconds: no conditions to judge by
            return None
        try:
            return metrics(arch, result, num_classes=num_classes)
        except (AccelSearchError, ValueError, TypeError, KeyError, RuntimeError) as exc:
            return {"efficiency_error": str(exc)}

    return efficiency


def grow_family(
    recipe: Recipe,
    base,
    base_accuracy: float | None = None,
    printer=print,
    space=None,
    targets=None,
    export_dir: Path | None = None,
    checkpoint: Path | None = None,
) -> Family:
    """Run LACS from ``base`` with the recipe's latency, accuracy, reward and scaling settings.

    ``targets`` (``[(value, is_multiple), ...]``, see :func:`scaling.parse_targets`)
    overrides the recipe's. With ``scaling.compare`` the EfficientNet baseline is grown too
    (``family.baseline``). ``export_dir``: one ONNX file per member there. ``checkpoint``:
    a JSON file that keeps every measured latency and evaluated accuracy as LACS goes
    (:class:`~accelsearch.scaling.evaluations.Evaluations`); started again after a stop, LACS
    goes on from there and measures or trains nothing twice.
    """
    spec = recipe.scaling
    space = space if space is not None else recipe.space.make()
    num_classes = recipe.num_classes or 1000
    evaluator = recipe.accuracy.make()
    threads = latency_kwargs(recipe).get("threads")
    if threads:
        torch.set_num_threads(int(threads))
    with latency.get_backend(**latency_kwargs(recipe)) as backend:
        lacs = _lacs_for(recipe, space, backend, evaluator, checkpoint, printer)
        base_ms, _, _ = lacs.latency(base)
        targets_ms = resolve_targets(_recipe_targets(spec) if targets is None else targets, base_ms)
        printer(
            f"[lacs] base latency {base_ms:.3f} ms ({backend.name}, {backend.precision}, "
            f"batch {recipe.latency.batch_size}); targets "
            f"{', '.join(f'{t:.3f}' for t in targets_ms)} ms"
        )
        cost = _cost_function(space, num_classes)
        efficiency = efficiency_function(num_classes)
        family = lacs.run(
            base,
            targets_ms,
            name=recipe.name,
            base_accuracy=base_accuracy,
            cost=cost,
            efficiency=efficiency,
        )
        if spec.compare:
            lacs.compare(family, spec.compare, spec.compare_phi, cost=cost, efficiency=efficiency)
        family.settings["space"] = getattr(space, "name", "")
        family.settings["accuracy"] = evaluator.describe()
        family.settings["reward_w"] = recipe.reward.w
        family.settings["reward_target_ms"] = recipe.reward.target_ms
    if export_dir is not None:
        paths = family.export_onnx(export_dir, num_classes=num_classes, space=space)
        printer(f"[lacs] ONNX: {len(paths)} files in {export_dir}")
    return family


def _recipe_targets(spec) -> list[tuple[float, bool]]:
    """The recipe's targets as ``[(value, is_multiple), ...]``: milliseconds, then multiples."""
    targets = [(t, False) for t in spec.targets_ms] if spec.targets_ms else []
    return targets + [(t, True) for t in spec.targets or []]


def _cost_function(space, num_classes: int):
    def cost(arch):
        model = space.build(arch, num_classes=num_classes)
        return model_cost(model, arch.resolution, arch.in_chans)

    return cost


def _lacs_for(recipe: Recipe, space, backend, evaluator, checkpoint, printer) -> LACS:
    """LACS with the recipe's latency (measured by ``backend``), accuracy, reward and
    scaling settings, its measurements kept in ``checkpoint`` when given."""
    spec = recipe.scaling
    num_classes = recipe.num_classes or 1000

    def measure(arch):
        return backend.measure(
            space.build(arch, num_classes=num_classes),
            recipe.latency.batch_size,
            arch.resolution,
        )

    lut_options = {
        "batch_size": recipe.latency.batch_size,
        "precision": recipe.latency.precision,
        "device": recipe.latency.device,
        "space": space if getattr(space, "name", "") != "generic" else None,
    }
    return LACS(
        spec.grid or None,
        latency=measure,
        accuracy=lambda arch: evaluator.evaluate(arch),
        # the search's reward, with its target: a member's reward is comparable with every
        # trial's (ranking the grid at one target is the same with any fixed target)
        reward=lambda acc, lat, _target: mnas_reward(
            acc, lat, recipe.reward.target_ms, recipe.reward.w
        ),
        predictor=spec.predictor,
        predictor_options=lut_options if spec.predictor == "lut" else None,
        max_triples=spec.max_triples,
        grid_target=spec.grid_target,
        tolerance=spec.tolerance,
        max_measurements=spec.max_measurements,
        max_multiplier=spec.max_multiplier,
        space=space,
        resolution_multiple=spec.resolution_multiple,
        evaluations=Evaluations(path=checkpoint) if checkpoint is not None else None,
        printer=printer,
    )


def log_family(
    tracker: Tracker,
    family: Family,
    recipe: Recipe,
    result: SearchResult | None,
    out: Path,
    space_name: str | None = None,
    extra_tags: dict | None = None,
) -> str:
    """Family run with member child runs, the family table, the accuracy-latency plot and,
    when the family has a baseline, the comparison (and the baseline as its own family run,
    tagged ``accelsearch.compared_with``)."""
    space_name = space_name or family.settings.get("space") or recipe.space.name
    run = _log_one_family(tracker, family, recipe, result, space_name, extra_tags or {})
    if family.baseline is not None:
        other = _log_one_family(
            tracker,
            family.baseline,
            recipe,
            result,
            space_name,
            {**(extra_tags or {}), **schema.compared_with_tags(run)},
        )
        tracker.end_run(other)
        tracker.set_tags(run, schema.baseline_family_tags(other))
        tracker.log_text(
            run, report.markdown_table(*report.comparison_rows(family)), "comparison.md"
        )
        tracker.log_json(run, family.comparison(), "comparison.json")
    fig = plots.family_plot(family, result)
    fig.savefig(out / "family.png", dpi=120)
    tracker.log_figure(run, fig, "family.png")
    import matplotlib.pyplot as plt  # heavy, third-party: only when a family is logged

    plt.close(fig)
    tracker.end_run(run)
    return run


def _log_one_family(tracker, family, recipe, result, space_name, extra_tags) -> str:
    settings = family.settings
    kept = settings.get("pruning", {}).get("kept") or [
        [g.alpha, g.beta, g.gamma] for g in family.grid
    ]
    run = tracker.start_run(
        "family",
        f"{family.name}-family" if family.method == "lacs" else family.name,
        tags={
            **schema.family_tags(space_name, family, result.mlflow_run_id if result else ""),
            **extra_tags,
        },
        params={
            "alpha": family.alpha,
            "beta": family.beta,
            "gamma": family.gamma,
            "base_latency_ms": family.base_latency_ms,
            "targets_ms": settings.get("targets_ms"),
            "tolerance": settings.get("tolerance"),
            "predictor": settings.get("predictor"),
            "phi_from": settings.get("phi_from", "latency"),
            "grid_considered": settings.get("pruning", {}).get("considered", len(family.grid)),
            "grid": kept,
        },
    )
    family.mlflow_run_id = run
    for m in family.members:
        _log_member(tracker, family, run, m)
    tracker.log_metrics(run, schema.family_metrics(family))
    tracker.log_text(run, report.markdown_table(*report.family_rows(family)), "family.md")
    tracker.log_json(run, family.to_dict(), "family.json")
    return run


def _log_member(tracker, family, run, m) -> None:
    """One member's child run of the family run ``run``: tags, params, metrics, arch."""
    child = tracker.start_run(
        "member",
        m.name,
        parent_id=run,
        tags=schema.member_tags(family, m),
        params={
            "alpha": m.alpha,
            "beta": m.beta,
            "gamma": m.gamma,
            "phi": m.phi,
            "target_ms": m.target_ms,
            "resolution": m.arch.resolution,
        },
    )
    tracker.log_metrics(child, schema.member_metrics(m))
    tracker.log_text(child, m.arch.to_json(), "arch.json")
    tracker.end_run(child)
