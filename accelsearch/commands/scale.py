"""``accelsearch scale``: grow a family from one base model with LACS, standalone.

The base comes from an ``arch.json`` (``--base``) or from an MLflow trial or member run
(``--from-run RUN_ID``: its ``arch.json`` artifact, its accuracy, its space, and the recipe of
the search it belongs to). Latency, accuracy and reward settings come from a recipe
(``--recipe``, or the search's) with CLI overrides (``--backend``, ``--batch-size``,
``--dataset``, ``--epochs``, ``--reward-w`` ... and ``--set key=value`` for anything else).
Targets are milliseconds or multiples of the base's measured latency::

    accelsearch scale --base b0.json --space efficientnet_x --targets x1.5,x2,x3 \\
        --device cuda --precision fp16 --batch-size 128 --compare efficientnet

Writes ``family.json``, ``summary.md`` and ``family.png`` into a new folder of the workspace
(``--output``), ONNX files with ``--onnx``, and logs a family run with member child runs to
the workspace's MLflow store (``--no-mlflow`` to skip).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from accelsearch import mlflow_schema as schema
from accelsearch import plots, report, spaces
from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError
from accelsearch.pipeline import GenericBuilder, grow_family, log_family, make_tracker, new_run_dir
from accelsearch.recipe import apply_overrides, read_recipe_file, recipe_from_dict
from accelsearch.scaling import parse_targets, validate_grid
from accelsearch.search.result import SearchResult, TrialRecord
from accelsearch.tracking import default_tracking_uri


# -- the base and its context ----------------------------------------------------------------------
def parse_grid(text: str) -> list[tuple[float, float, float]] | None:
    """'default' -> None (the paper's neighbourhood); 'a,b,g;a,b,g' -> triples."""
    if text.strip().lower() == "default":
        return None
    grid = []
    for part in text.split(";"):
        values = [v for v in part.replace(" ", "").split(",") if v]
        if len(values) != 3:
            raise ConfigError(
                f"--grid entry {part!r} must be three numbers 'alpha,beta,gamma' "
                "(entries separated by ';'), or 'default'"
            )
        try:
            grid.append(tuple(float(v) for v in values))
        except ValueError:
            raise ConfigError(f"--grid entry {part!r} has a value that is not a number") from None

    return validate_grid(grid)


def load_base(path: str):
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--base {path!r} does not exist; give an arch JSON file")
    return Arch.from_json(p.read_text())


def _stores(tracking_uri: str | None, output: str | None) -> list[str]:
    if tracking_uri:
        return [tracking_uri]
    folders = [Path(output)] if output else [Path("runs"), *sorted(Path("runs").glob("*"))]
    return [default_tracking_uri(f) for f in folders if (f / "mlflow.db").exists()]


def from_run(run_id: str, tracking_uri: str | None, output: str | None) -> dict[str, Any]:
    """arch, accuracy, space name, recipe (of its search) and store of an MLflow run."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    stores = _stores(tracking_uri, output)
    if not stores:
        raise ConfigError(
            f"no MLflow store to look up run {run_id!r}: pass --tracking-uri, or --output with "
            "the workspace of the search (the folder holding mlflow.db)"
        )
    for uri in stores:
        client = MlflowClient(tracking_uri=uri)
        try:
            run = client.get_run(run_id)
        except MlflowException:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            try:
                path = client.download_artifacts(run_id, "arch.json", tmp)
            except (MlflowException, OSError):
                raise ConfigError(
                    f"MLflow run {run_id!r} has no arch.json artifact; --from-run takes a trial "
                    "or member run (tag accelsearch.kind = trial | member)"
                ) from None
            arch = Arch.from_json(Path(path).read_text())
        tags = run.data.tags
        parent = tags.get("mlflow.parentRunId")
        search_id = tags.get(schema.SEARCH_RUN_ID) or None
        parent_tags: dict[str, str] = {}
        if parent:
            parent_tags = client.get_run(parent).data.tags
            if parent_tags.get(schema.KIND_TAG) == "search":
                search_id = parent
            else:
                search_id = parent_tags.get(schema.SEARCH_RUN_ID) or search_id
        recipe_raw = None
        if search_id:
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    rp = client.download_artifacts(search_id, "recipe.json", tmp)
                    recipe_raw = json.loads(Path(rp).read_text())
                except (MlflowException, OSError, json.JSONDecodeError):
                    recipe_raw = None
        space = tags.get(schema.SPACE) or parent_tags.get(schema.SPACE)
        if not space and search_id:
            space = client.get_run(search_id).data.tags.get(schema.SPACE)
        return {
            "arch": arch,
            "accuracy": run.data.metrics.get("accuracy"),
            "space": space or None,
            "recipe": recipe_raw,
            "search_run_id": search_id,
            "kind": tags.get(schema.KIND_TAG),
            "store": uri,
        }
    raise ConfigError(
        f"MLflow run {run_id!r} is not in {', '.join(stores)}; pass --tracking-uri or --output "
        "with the workspace that holds it"
    )


def search_from_mlflow(store: str, search_run_id: str):
    """The search's trials (metrics only) from MLflow, for the plot's Pareto set."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=store)
    search = client.get_run(search_run_id)
    runs = client.search_runs(
        [search.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{search_run_id}'",
        max_results=5000,
    )
    trials = []
    for r in runs:
        m = r.data.metrics
        if "accuracy" in m and "latency_ms" in m:
            name = r.data.tags.get(schema.TRIAL_ID, r.info.run_id)
            trials.append(TrialRecord(name, {}, "ok", metrics=dict(m), mlflow_run_id=r.info.run_id))
    return SearchResult(trials=trials, mlflow_run_id=search_run_id)


# -- the recipe --------------------------------------------------------------------------------------
#: ``accelsearch scale`` flags that override a recipe field: (flag, the field)
FLAG_FIELDS = (
    ("backend", "latency.backend"),
    ("device", "latency.device"),
    ("precision", "latency.precision"),
    ("batch_size", "latency.batch_size"),
    ("evaluator", "accuracy.evaluator"),
    ("dataset", "accuracy.options.dataset"),
    ("epochs", "accuracy.options.epochs"),
    ("reward_w", "reward.w"),
    ("max_triples", "scaling.max_triples"),
    ("predictor", "scaling.predictor"),
    ("tolerance", "scaling.tolerance"),
    ("max_measurements", "scaling.max_measurements"),
    ("max_multiplier", "scaling.max_multiplier"),
    ("compare", "scaling.compare"),
    ("compare_phi", "scaling.compare_phi"),
)


def build_recipe(args: argparse.Namespace, context: dict[str, Any]):
    """The recipe: ``--recipe`` or the search's, else defaults; then CLI overrides."""
    raw, source = _raw_recipe(args, context)
    known = raw.get("space") if isinstance(raw.get("space"), dict) else None
    if args.space:
        same = known is not None and known.get("name") == args.space
        raw["space"] = known if same else {"name": args.space}
    elif known is None and context.get("space"):
        raw["space"] = {"name": context["space"]}
    space = (raw.get("space") or {}).get("name")
    if not space:  # unknown: the generic builder does the work; the recipe needs a name
        raw["space"] = {"name": "efficientnet_x"}
    raw.setdefault("reward", {"target_ms": 1.0})
    sets = [f"name={args.name}"] if args.name else []
    sets += [
        f"{key}={getattr(args, flag)}"
        for flag, key in FLAG_FIELDS
        if getattr(args, flag) is not None
    ]
    scaling = dict(raw.get("scaling") or {})
    scaling.update(enabled=True, targets=[2.0], targets_ms=None)  # CLI targets replace these
    if args.grid is not None:
        grid = parse_grid(args.grid)
        scaling["grid"] = [list(t) for t in grid] if grid else None
    raw["scaling"] = scaling
    raw = apply_overrides(raw, sets + list(args.set))
    return recipe_from_dict(raw, source), space


def _raw_recipe(args: argparse.Namespace, context: dict[str, Any]) -> tuple[dict, str]:
    """The recipe as a mapping before the CLI's overrides, and where it came from."""
    if args.recipe:
        raw = read_recipe_file(args.recipe) or {}  # refuses what load_recipe refuses
        source = str(args.recipe)
    elif context.get("recipe"):
        raw, source = dict(context["recipe"]), "recipe.json of the search run"
    else:
        raw = {
            "name": "scale",
            "accuracy": {"evaluator": "train", "options": {"dataset": "digits", "epochs": 3}},
            "reward": {"target_ms": 1.0, "w": -0.09},
        }
        source = "defaults"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a recipe must be a mapping")
    return raw, source


def scale(args: argparse.Namespace) -> int:
    targets = parse_targets(args.targets)
    context: dict[str, Any] = {}
    if args.from_run:
        context = from_run(args.from_run, args.tracking_uri, args.output)
        base = context["arch"]
        print(
            f"[scale] base from {context.get('kind') or 'run'} {args.from_run} "
            f"({context['store']}): {base}"
        )
    else:
        base = load_base(args.base)
    recipe, space_name = build_recipe(args, context)
    space = recipe.space.make() if space_name and space_name in spaces.list() else None
    if space_name and space is None:
        raise ConfigError(
            f"space {space_name!r} is not registered here; valid choices: {spaces.list()}"
        )
    space = space or GenericBuilder()
    base_accuracy = args.base_accuracy
    if base_accuracy is None:
        base_accuracy = context.get("accuracy")
    workspace = Path(args.output or os.path.join("runs", "scale")).resolve()
    out = new_run_dir(workspace, recipe.name)
    print(f"[scale] {recipe.name}: output {out}; space {getattr(space, 'name', '?')}")
    family = grow_family(
        recipe,
        base,
        base_accuracy,
        space=space,
        targets=targets,
        export_dir=out / "onnx" if args.onnx else None,
    )
    family.settings["targets"] = args.targets
    family.save(out / "family.json")
    result = None
    if not args.no_mlflow:
        uri = args.tracking_uri or context.get("store")
        tracker = make_tracker(recipe, workspace, uri)
        if context.get("search_run_id"):
            result = search_from_mlflow(tracker.uri, context["search_run_id"])
        extra = schema.scaled_from_tags(args.from_run)
        run = log_family(
            tracker, family, recipe, result, out, space_name=space.name, extra_tags=extra
        )
        family.save(out / "family.json")  # now with its MLflow run id
        print(f"[scale] MLflow family run {run} in {tracker.uri}")
    else:
        fig = plots.family_plot(family, None)
        fig.savefig(out / "family.png", dpi=120)
    report.write_summary(out / "summary.md", report.summary_markdown(recipe, result, family))
    report.print_tables(
        None, family, report.reward_definition(recipe.reward.target_ms, recipe.reward.w)
    )
    print(f"[scale] {out / 'family.json'}, {out / 'summary.md'}, {out / 'family.png'}")
    return 0
