"""A whole run: search, then LACS on the best base model, tracked in MLflow.

This is what ``accelsearch run RECIPE.yaml`` calls. The output folder is a workspace: it
holds the MLflow store shared by every run made in it (``mlflow.db`` + ``mlartifacts/``,
so families of several runs can be compared in one UI) and one folder per run
(``<name>-<YYYYmmdd-HHMMSS>/``, with ``latest`` pointing at the newest) holding
``search.json`` (every trial), ``family.json``, ``summary.md``, ``family.png`` and Ray
Tune's own folder (``ray/``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from accelsearch import report
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
    tracker = make_tracker(recipe, workspace, tracking_uri, offline)  # fails before any work
    out = new_run_dir(workspace, recipe.name)
    (out / "recipe.json").write_text(recipe.model_dump_json(indent=2))
    printer(f"[run] {recipe.name}: output {out}, MLflow {tracker.uri}")
    space = space if space is not None else recipe.space.make()
    result = Search(
        recipe, out, tracker=tracker, address=address, printer=printer, space=space
    ).run()
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
        family.save(out / "family.json")
        log_family(tracker, family, recipe, result, out)
    text = report.summary_markdown(recipe, result, family, _latency_note(result))
    report.write_summary(out / "summary.md", text)
    report.print_tables(result, family)
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


def grow_family(
    recipe: Recipe, base, base_accuracy: float | None = None, printer=print, space=None
) -> Family:
    """Run LACS from ``base`` with the recipe's latency, accuracy and reward."""
    import torch

    from accelsearch.accounting import model_cost
    from accelsearch.objectives import latency
    from accelsearch.objectives.reward import mnas_reward
    from accelsearch.scaling.lacs import LACS
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

        lacs = LACS(
            spec.grid,
            latency=measure,
            accuracy=lambda arch: evaluator.evaluate(arch),
            reward=lambda acc, lat, target: mnas_reward(acc, lat, target, recipe.reward.w),
            tolerance=spec.tolerance,
            max_measurements=spec.max_measurements,
            resolution_multiple=spec.resolution_multiple or space.resolution_multiple,
            printer=printer,
        )
        return lacs.run(
            base,
            spec.targets_ms,
            targets_x=spec.targets,
            name=recipe.name,
            base_accuracy=base_accuracy,
            cost=cost,
        )


def log_family(
    tracker: Tracker, family: Family, recipe: Recipe, result: SearchResult | None, out: Path
) -> str:
    """Family run with member child runs, the family table and the accuracy-latency plot."""
    run = tracker.start_run(
        "family",
        f"{family.name}-family",
        tags={
            "accelsearch.space": recipe.space.name,
            "accelsearch.family": family.name,
            "accelsearch.search_run_id": result.mlflow_run_id if result else "",
            "accelsearch.base_arch": str(family.base),
        },
        params={
            "alpha": family.alpha,
            "beta": family.beta,
            "gamma": family.gamma,
            "base_latency_ms": family.base_latency_ms,
            "targets_ms": family.settings.get("targets_ms"),
            "tolerance": family.settings.get("tolerance"),
            "grid": [(g.alpha, g.beta, g.gamma) for g in family.grid],
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
                "accelsearch.arch": str(m.arch),
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
            "total_measurements": family.settings.get("total_measurements", 0),
        },
    )
    tracker.log_text(run, report.markdown_table(*report.family_rows(family)), "family.md")
    tracker.log_json(run, family.to_dict(), "family.json")
    fig = report.family_plot(family, result)
    fig.savefig(out / "family.png", dpi=120)
    tracker.log_figure(run, fig, "family.png")
    import matplotlib.pyplot as plt

    plt.close(fig)
    tracker.end_run(run)
    return run
