"""A whole run: search, then LACS on the best base model, tracked in MLflow.

This is what ``accelsearch run RECIPE.yaml`` calls. The output folder is a workspace: it
holds the MLflow store shared by every run made in it (``mlflow.db`` + ``mlartifacts/``,
so families of several runs can be compared in one UI) and one folder per run
(``<name>-<YYYYmmdd-HHMMSS>/``, with ``latest`` pointing at the newest) holding
``search.json`` (every trial), ``family.json``, ``summary.md``, ``family.png`` and Ray
Tune's own folder (``ray/``); with a ``baselines`` section also ``baselines.json`` and
``family_vs_baselines.png`` (published models measured like the members, see
:mod:`accelsearch.baselines`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from accelsearch import report
from accelsearch.baselines_measure import measured_models
from accelsearch.baselines_preflight import PlannedBaseline, plan_baselines
from accelsearch.baselines_step import run_baselines
from accelsearch.confirm_run import confirm_of_run
from accelsearch.core.errors import ConfigError
from accelsearch.family_run import GenericBuilder as GenericBuilder
from accelsearch.family_run import family_of_run
from accelsearch.family_run import grow_family as grow_family
from accelsearch.family_run import log_family as log_family
from accelsearch.progress import show_status
from accelsearch.recipe import Recipe, recipe_from_dict
from accelsearch.recipe_driver import search_driver
from accelsearch.recipe_settings import resolve_strategy
from accelsearch.scaling.family import Family
from accelsearch.search.driver import STATE_FILE, check_not_moved
from accelsearch.search.result import SearchResult
from accelsearch.search.screen_setup import check_search_budget
from accelsearch.tracking import Tracker, default_tracking_uri, is_remote, write_sync_target
from accelsearch.tracking_failover import FailoverTracker, read_fallback


@dataclass
class RunOutcome:
    output_dir: Path  # this run's folder inside the workspace
    search: SearchResult
    family: Family | None
    tracking_uri: str
    wall_s: float


def make_tracker(
    recipe: Recipe,
    output_dir: Path,
    tracking_uri: str | None,
    offline: bool = False,
    run_dir: Path | None = None,
) -> Tracker | FailoverTracker:
    """The run's MLflow tracker; a tracking store that cannot be used fails here.

    ``offline``: use the workspace's SQLite store whatever URI was given, and remember a
    server URI in ``sync.json`` for ``accelsearch sync``. A tracking server gets a
    :class:`FailoverTracker` (the run goes on offline if the server dies); one whose run
    (``run_dir``, when resuming) had gone offline starts offline.
    """
    wanted = tracking_uri or recipe.tracking.uri
    uri = wanted or default_tracking_uri(output_dir)
    experiment = recipe.tracking.experiment or recipe.name
    if offline:
        uri = default_tracking_uri(output_dir)
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        if is_remote(wanted):
            write_sync_target(output_dir, wanted)
    elif is_remote(uri):
        went_offline = run_dir is not None and read_fallback(run_dir) is not None
        return FailoverTracker(uri, experiment, output_dir, offline=went_offline)
    tracker = Tracker(uri, experiment, output_dir / "mlartifacts")  # a bad store fails first
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    return tracker


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
    t0 = time.perf_counter()
    workspace = Path(output_dir).resolve()
    space = space if space is not None else recipe.space.make()
    recipe = resolve_strategy(recipe, space, printer)  # 'auto': recorded as what it chose
    screen = check_search_budget(recipe, space, printer)  # a bad budget fails before any work
    show_status(printer, f"[run] {recipe.name}: setting up MLflow tracking (a new store: seconds)")
    tracker = make_tracker(recipe, workspace, tracking_uri, offline)  # fails before any work
    planned = check_baselines(recipe, printer)  # a bad baseline fails before the search
    out = new_run_dir(workspace, recipe.name)
    _follow_tracker(tracker, out, printer)
    (out / "recipe.json").write_text(recipe.model_dump_json(indent=2))
    printer(f"[run] {recipe.name}: output {out}, MLflow {tracker.uri}")
    driver = search_driver(recipe, out, tracker, address, printer, space, screen=screen)
    result = driver.run()
    return finish_run(recipe, out, tracker, result, printer, space, t0, planned)


def resume_run(
    run_dir: str | Path,
    tracking_uri: str | None = None,
    address: str | None = None,
    printer=print,
    space=None,
    trust_checkpoints: bool = False,
) -> RunOutcome:
    """Continue a run whose driver stopped: the search where it was, then LACS if asked.

    ``run_dir`` is the run's folder (``<workspace>/<name>-<stamp>``) or a workspace (its
    ``latest`` run). A search that had finished (``search.json`` written) is not run
    again; the family step runs if the recipe asks for one and it is missing. Ray Tune's
    snapshot is checked against the hashes recorded when it was written, unless
    ``trust_checkpoints`` (see docs/reliability.md, "Trusted input").
    """

    t0 = time.perf_counter()
    out = resolve_run_dir(run_dir)
    check_not_moved(out)  # before any work: the old path is where Tune and MLflow would write
    recipe = recipe_from_dict(
        json.loads((out / "recipe.json").read_text()), str(out / "recipe.json")
    )
    state_path = out / STATE_FILE
    state = json.loads(state_path.read_text()) if state_path.exists() else {}
    tracker = make_tracker(
        recipe, out.parent, tracking_uri or state.get("tracking_uri"), run_dir=out
    )
    _follow_tracker(tracker, out, printer)
    planned = check_baselines(recipe, printer, out)
    space = space if space is not None else recipe.space.make()
    if (out / "search.json").exists():
        printer(f"[resume] {out}: the search had finished; going on from its results")
        result = SearchResult.load(out / "search.json")
    else:
        printer(f"[resume] {out}: continuing the search")
        driver = search_driver(recipe, out, tracker, address, printer, space, trust_checkpoints)
        result = driver.resume()
    return finish_run(recipe, out, tracker, result, printer, space, t0, planned)


def resolve_run_dir(run_dir: str | Path) -> Path:
    """The run's folder: ``run_dir`` itself, or the ``latest`` run of a workspace."""
    out = Path(run_dir).resolve()
    if not (out / "recipe.json").exists() and (out / "latest").exists():
        out = (out / "latest").resolve()
    if not (out / "recipe.json").exists():
        raise ConfigError(
            f"{str(run_dir)!r} is not a run folder (no recipe.json); pass the folder that "
            "`accelsearch run` printed ([run] ...: output <folder>) or its workspace"
        )
    return out


def finish_run(
    recipe: Recipe,
    out: Path,
    tracker: Tracker,
    result: SearchResult,
    printer=print,
    space=None,
    t0: float | None = None,
    planned: list[PlannedBaseline] | None = None,
) -> RunOutcome:
    """What follows the search: ``search.json``, the confirming runs (``search.confirm``),
    LACS (if enabled), the baselines (if the recipe names some), summary and tables."""
    t0 = time.perf_counter() if t0 is None else t0
    workspace = out.parent
    result.save(out / "search.json")
    if confirm_of_run(recipe, result, out, tracker, printer):
        result.save(out / "search.json")  # with the confirmed figures; LACS grows the winner
    family = None
    if recipe.scaling.enabled:
        family = family_of_run(recipe, result, out, tracker, printer, space)
    text = report.summary_markdown(recipe, result, family, _latency_note(result))
    if family is not None and recipe.baselines.enabled:
        outcome = run_baselines(
            recipe,
            recipe.baselines,
            out,
            family,
            result=result,
            tracker=tracker,
            family_run_id=family.mlflow_run_id,
            printer=printer,
            planned=planned,
        )
        text = text.rstrip("\n") + "\n\n" + outcome.section + "\n"
    report.write_summary(out / "summary.md", text)
    report.print_tables(
        result, family, report.reward_definition(recipe.reward.target_ms, recipe.reward.w)
    )
    if isinstance(tracker, FailoverTracker):
        tracker.sync_back(printer)  # after a fallback: upload if the server is back
    printer(f"[run] summary: {out / 'summary.md'}; {where_to_look(tracker.uri, workspace)}")
    return RunOutcome(out, result, family, tracker.uri, time.perf_counter() - t0)


def check_baselines(
    recipe: Recipe, printer=print, run_dir: Path | None = None
) -> list[PlannedBaseline] | None:
    """The recipe's baselines, checked on the CPU before any search or training (names,
    resolutions the proxy trains them at); None when the recipe names none. Those that
    ``run_dir`` has measured already are not checked again."""
    if not recipe.baselines.enabled:
        return None
    t0 = time.perf_counter()
    done = measured_models(run_dir, recipe, recipe.baselines) if run_dir else set()
    planned = plan_baselines(recipe.baselines, recipe, done)
    printer(
        f"[run] {len(planned)} baseline(s) checked in {time.perf_counter() - t0:.1f} s: "
        + ", ".join(f"{p.model} ({p.arch.resolution} px)" for p in planned)
    )
    return planned


def _follow_tracker(tracker, out: Path, printer) -> None:
    """A server's tracker records a fallback in the run folder and prints through the run."""
    if isinstance(tracker, FailoverTracker):
        tracker.attach_run_dir(out)
        tracker.printer = printer


def where_to_look(tracking_uri: str, workspace: Path) -> str:
    """Where the user finds the run in MLflow (and, for an offline run, how to upload it)."""
    if is_remote(tracking_uri):
        return f"open {tracking_uri} in a browser"
    hint = f"open the UI with: accelsearch ui --output {workspace}"
    if (workspace / "sync.json").exists():  # an --offline run meant for a server
        hint += f"; upload it with: accelsearch sync --output {workspace}"
    return hint


def new_run_dir(workspace: Path, name: str) -> Path:
    """A fresh folder for one run inside ``workspace``; ``latest`` points at it.

    Recipe names are checked at validation (``NAME_PATTERN``); a name that would still put
    the folder anywhere but directly inside the workspace (``../x``, ``/x``, ``a/b``: a
    recipe made in Python without validation) is refused here too.
    """
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = workspace / f"{name}-{stamp}"
    if out.resolve().parent != workspace.resolve():
        raise ConfigError(
            f"run name {name!r} would put the run folder outside the workspace {str(workspace)!r}; "
            "use letters, digits, '.', '_' and '-' only"
        )
    workspace.mkdir(parents=True, exist_ok=True)
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
