"""A whole run: search, then LACS on the best base model, tracked in MLflow.

This is what ``accelsearch run RECIPE.yaml`` calls. The output folder is a workspace: it
holds the MLflow store shared by every run made in it (``mlflow.db`` + ``mlartifacts/``,
so families of several runs can be compared in one UI) and one folder per run
(``<name>-<YYYYmmdd-HHMMSS>/``, with ``latest`` pointing at the newest) holding
``search.json`` (every trial), ``family.json``, ``summary.md``, ``family.png`` and Ray
Tune's own folder (``ray/``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from accelsearch import plots, report
from accelsearch.errors import AccelSearchError
from accelsearch.progress import show_status
from accelsearch.recipe import Recipe
from accelsearch.scaling.family import Family
from accelsearch.search.result import SearchResult
from accelsearch.tracking import Tracker, default_tracking_uri, is_remote, write_sync_target


@dataclass
class RunOutcome:
    output_dir: Path  # this run's folder inside the workspace
    search: SearchResult
    family: Family | None
    tracking_uri: str
    wall_s: float


def make_tracker(
    recipe: Recipe, output_dir: Path, tracking_uri: str | None, offline: bool = False
) -> Tracker:
    """The run's MLflow tracker; a tracking server that cannot be reached fails here.

    ``offline``: use the workspace's SQLite store whatever URI was given, and remember a
    server URI in ``sync.json`` for ``accelsearch sync``.
    """
    wanted = tracking_uri or recipe.tracking.uri
    uri = wanted or default_tracking_uri(output_dir)
    if offline:
        uri = default_tracking_uri(output_dir)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        if is_remote(wanted):
            write_sync_target(output_dir, wanted)
    elif not is_remote(uri):
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    return Tracker(uri, recipe.tracking.experiment or recipe.name, output_dir / "mlartifacts")


def run_recipe(
    recipe: Recipe,
    output_dir: str | Path,
    tracking_uri: str | None = None,
    address: str | None = None,
    printer=print,
    space=None,
    offline: bool = False,
) -> RunOutcome:
    """Search, then LACS; ``space`` overrides the recipe's (for spaces defined in Python).

    ``offline=True`` keeps the MLflow runs in the workspace's SQLite store even when a
    tracking URI is given (``accelsearch sync`` uploads them later).
    """
    from accelsearch.search.driver import Search

    t0 = time.perf_counter()
    workspace = Path(output_dir).resolve()
    show_status(printer, f"[run] {recipe.name}: setting up MLflow tracking (a new store: seconds)")
    tracker = make_tracker(recipe, workspace, tracking_uri, offline)  # fails before any work
    out = new_run_dir(workspace, recipe.name)
    (out / "recipe.json").write_text(recipe.model_dump_json(indent=2))
    printer(f"[run] {recipe.name}: output {out}, MLflow {tracker.uri}")
    space = space if space is not None else recipe.space.make()
    result = Search(
        recipe, out, tracker=tracker, address=address, printer=printer, space=space
    ).run()
    return finish_run(recipe, out, tracker, result, printer, space, t0)


def resume_run(
    run_dir: str | Path,
    tracking_uri: str | None = None,
    address: str | None = None,
    printer=print,
    space=None,
) -> RunOutcome:
    """Continue a run whose driver stopped: the search where it was, then LACS if asked.

    ``run_dir`` is the run's folder (``<workspace>/<name>-<stamp>``) or a workspace (its
    ``latest`` run). A search that had finished (``search.json`` written) is not run
    again; the family step runs if the recipe asks for one and it is missing.
    """
    from accelsearch.errors import ConfigError
    from accelsearch.recipe import recipe_from_dict
    from accelsearch.search.driver import STATE_FILE, Search

    t0 = time.perf_counter()
    out = Path(run_dir).resolve()
    if not (out / "recipe.json").exists() and (out / "latest").exists():
        out = (out / "latest").resolve()
    if not (out / "recipe.json").exists():
        raise ConfigError(
            f"{str(run_dir)!r} is not a run folder (no recipe.json); pass the folder that "
            "`accelsearch run` printed ([run] ...: output <folder>) or its workspace"
        )
    recipe = recipe_from_dict(
        json.loads((out / "recipe.json").read_text()), str(out / "recipe.json")
    )
    state_path = out / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    tracker = make_tracker(recipe, out.parent, tracking_uri or state.get("tracking_uri"))
    space = space if space is not None else recipe.space.make()
    if (out / "search.json").exists():
        printer(f"[resume] {out}: the search had finished; going on from its results")
        result = SearchResult.load(out / "search.json")
    else:
        printer(f"[resume] {out}: continuing the search")
        result = Search(
            recipe, out, tracker=tracker, address=address, printer=printer, space=space
        ).resume()
    return finish_run(recipe, out, tracker, result, printer, space, t0)


def finish_run(
    recipe: Recipe,
    out: Path,
    tracker: Tracker,
    result: SearchResult,
    printer=print,
    space=None,
    t0: float | None = None,
) -> RunOutcome:
    """What follows the search: ``search.json``, LACS (if enabled), summary and tables."""
    t0 = time.perf_counter() if t0 is None else t0
    workspace = out.parent
    result.save(out / "search.json")
    family = None
    if recipe.scaling.enabled:
        best = result.best()
        printer(
            f"[run] best base model: trial {best.trial_id}, reward {best.metrics['reward']:.3f}"
        )
        family = grow_family(
            recipe, best.arch, best.metrics.get("accuracy"), printer=printer, space=space
        )
        family.save(out / "family.json")  # kept even if logging to MLflow fails
        log_family(tracker, family, recipe, result, out)
        family.save(out / "family.json")  # now with its MLflow run id
    text = report.summary_markdown(recipe, result, family, _latency_note(result))
    report.write_summary(out / "summary.md", text)
    report.print_tables(
        result, family, report.reward_definition(recipe.reward.target_ms, recipe.reward.w)
    )
    printer(f"[run] summary: {out / 'summary.md'}; {where_to_look(tracker.uri, workspace)}")
    return RunOutcome(out, result, family, tracker.uri, time.perf_counter() - t0)


def where_to_look(tracking_uri: str, workspace: Path) -> str:
    """Where the user finds the run in MLflow (and, for an offline run, how to upload it)."""
    if is_remote(tracking_uri):
        return f"open {tracking_uri} in a browser"
    hint = f"open the UI with: accelsearch ui --output {workspace}"
    if (workspace / "sync.json").exists():  # an --offline run meant for a server
        hint += f"; upload it with: accelsearch sync --output {workspace}"
    return hint


def new_run_dir(workspace: Path, name: str) -> Path:
    """A fresh folder for one run inside ``workspace``; ``latest`` points at it."""
    workspace.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = workspace / f"{name}-{stamp}"
    k = 1
    while out.exists():
        k += 1
        out = workspace / f"{name}-{stamp}-{k}"
    out.mkdir()
    latest = workspace / "latest"
    try:
        if latest.is_symlink() or latest.exists():
            latest.unlink()
        latest.symlink_to(out.name)
    except OSError:
        pass  # file systems without symlinks: the stamped folder is enough
    return out


def _latency_note(result: SearchResult) -> str:
    for t in result.completed:
        m = t.metrics
        return (
            f"{m.get('latency_backend')} on {m.get('latency_device')}, "
            f"{m.get('latency_precision')}, batch {m.get('latency_batch_size')}"
        )
    return ""


class GenericBuilder:
    """Stands in for a space when an arch's space is unknown (an arch.json on its own):
    the generic builder and the default rounding (channels and resolution by 8)."""

    name = "generic"

    def build(self, arch, num_classes: int = 1000, **kwargs):
        from accelsearch.builder import build_model

        return build_model(arch, num_classes=num_classes, **kwargs)


def efficiency_function(num_classes: int = 1000):
    """``(arch, latency_result) -> {"intensity", "utilisation"}`` from the roofline
    (``accelsearch.objectives.roofline.efficiency_metrics``) when that module is installed,
    else None: the members' intensity and utilisation then stay empty."""
    try:
        from accelsearch.objectives import roofline  # type: ignore[attr-defined]
    except ImportError:
        return None
    metrics = getattr(roofline, "efficiency_metrics", None)
    if metrics is None:
        return None

    def efficiency(arch, result):
        if not hasattr(result, "batch_size"):  # a bare number: no conditions to judge by
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
) -> Family:
    """Run LACS from ``base`` with the recipe's latency, accuracy, reward and scaling settings.

    ``targets`` (``[(value, is_multiple), ...]``, see :func:`scaling.parse_targets`)
    overrides the recipe's. With ``scaling.compare`` the EfficientNet baseline is grown too
    (``family.baseline``). ``export_dir``: one ONNX file per member there.
    """
    import torch

    from accelsearch.accounting import model_cost
    from accelsearch.objectives import latency
    from accelsearch.objectives.reward import mnas_reward
    from accelsearch.scaling.lacs import LACS, resolve_targets
    from accelsearch.search.trial import latency_kwargs

    spec = recipe.scaling
    space = space if space is not None else recipe.space.make()
    num_classes = recipe.num_classes or 1000
    evaluator = recipe.accuracy.make()
    threads = latency_kwargs(recipe).get("threads")
    if threads:
        torch.set_num_threads(int(threads))

    with latency.get_backend(**latency_kwargs(recipe)) as backend:

        def measure(arch):
            return backend.measure(
                space.build(arch, num_classes=num_classes),
                recipe.latency.batch_size,
                arch.resolution,
            )

        def cost(arch):
            model = space.build(arch, num_classes=num_classes)
            return model_cost(model, arch.resolution, arch.in_chans)

        lut_options = {
            "batch_size": recipe.latency.batch_size,
            "precision": recipe.latency.precision,
            "device": recipe.latency.device,
            "space": space if getattr(space, "name", "") != "generic" else None,
        }
        lacs = LACS(
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
            printer=printer,
        )
        base_ms, _, _ = lacs.latency(base)
        if targets is None:
            targets = [(t, False) for t in spec.targets_ms] if spec.targets_ms else []
            targets += [(t, True) for t in spec.targets or []]
        targets_ms = resolve_targets(targets, base_ms)
        printer(
            f"[lacs] base latency {base_ms:.3f} ms ({backend.name}, {backend.precision}, "
            f"batch {recipe.latency.batch_size}); targets "
            f"{', '.join(f'{t:.3f}' for t in targets_ms)} ms"
        )
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
            {**(extra_tags or {}), "accelsearch.compared_with": run},
        )
        tracker.end_run(other)
        tracker.set_tags(run, {"accelsearch.baseline_run_id": other})
        tracker.log_text(
            run, report.markdown_table(*report.comparison_rows(family)), "comparison.md"
        )
        tracker.log_json(run, family.comparison(), "comparison.json")
    fig = plots.family_plot(family, result)
    fig.savefig(out / "family.png", dpi=120)
    tracker.log_figure(run, fig, "family.png")
    import matplotlib.pyplot as plt

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
            "accelsearch.space": space_name,
            "accelsearch.family": family.name,
            "accelsearch.scaling_method": family.method,
            "accelsearch.search_run_id": result.mlflow_run_id if result else "",
            "accelsearch.base_arch": str(family.base),
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
        child = tracker.start_run(
            "member",
            m.name,
            parent_id=run,
            tags={
                "accelsearch.family": family.name,
                "accelsearch.scaling_method": family.method,
                "accelsearch.arch": str(m.arch),
                "accelsearch.solve": m.solve,
                "accelsearch.latency_backend": m.latency.get("backend", ""),
                "accelsearch.latency_device": m.latency.get("device_name", ""),
                "accelsearch.latency_precision": m.latency.get("precision", ""),
                "accelsearch.latency_batch_size": m.latency.get("batch_size", ""),
            },
            params={
                "alpha": m.alpha,
                "beta": m.beta,
                "gamma": m.gamma,
                "phi": m.phi,
                "target_ms": m.target_ms,
                "resolution": m.arch.resolution,
            },
        )
        tracker.log_metrics(
            child,
            {
                "accuracy": m.accuracy,
                "latency_ms": m.latency_ms,
                "reward": m.reward,
                "params_m": m.params_m,
                "gflops": m.gflops,
                "gmacs": m.gmacs,
                "intensity": m.intensity,
                "utilisation": m.utilisation,
                "latency_error": m.latency_error,
                "n_measurements": m.n_measurements,
            },
        )
        tracker.log_text(child, m.arch.to_json(), "arch.json")
        tracker.end_run(child)
    tracker.log_metrics(
        run,
        {
            "members": len(family.members),
            "wall_s": family.wall_s,
            "total_measurements": settings.get("total_measurements", 0),
            "accuracy_evaluations": settings.get("accuracy_evaluations", 0),
        },
    )
    tracker.log_text(run, report.markdown_table(*report.family_rows(family)), "family.md")
    tracker.log_json(run, family.to_dict(), "family.json")
    return run
