"""Setting up the screen for a recipe, and the budget checks that run before any trial.

:func:`make_screen` picks the latency predictor (``search.screen.predictor``):

* ``auto``: the lookup table of the recipe's GPU when the store has one for its device,
  backend, precision and batch size, else FLOPs calibrated on the trials measured so far;
* ``lut``: that table, or a :class:`ConfigError` naming the tables the store has (the
  "no latency predictor for this device" error);
* ``flops``: FLOPs calibrated on the trials (with the candidates' layer count where that
  fits them better: :class:`~accelsearch.search.screen_models.FlopsLatency`).

With a table it also checks, before any trial, that the budget is reachable at all: the
fastest candidate the table predicts (over a Sobol pool of the space and its all-first-values
corner) must pass the screen, or the error says how fast that candidate is.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import numpy as np
import torch

from accelsearch.core.errors import ConfigError
from accelsearch.objectives import latency
from accelsearch.objectives.latency.device import device_name, normalize_device
from accelsearch.objectives.latency.lut import LUTPredictor
from accelsearch.search import strategy
from accelsearch.search.budget import Budget
from accelsearch.search.encoding import Encoding
from accelsearch.search.sampling import SobolStream
from accelsearch.search.screen import BuildCost, Screen, check_predictor_name
from accelsearch.search.screen_models import FlopsLatency, TableLatency
from accelsearch.search.settings import cpu_threads

LUT_OPTIONS = ("store", "device_name", "backend", "fill")
REACH_POOL = 4096  # Sobol candidates the reachability check predicts


def lut_settings(recipe) -> dict[str, Any]:
    """``LUTPredictor`` arguments for the recipe's latency settings (a read-only table)."""
    lat, lut = recipe.latency, dict(recipe.search.screen.lut)
    unknown = sorted(set(lut) - set(LUT_OPTIONS))
    if unknown:
        raise ConfigError(f"search.screen.lut has {unknown}; valid keys: {', '.join(LUT_OPTIONS)}")
    device = lat.device
    cuda = torch.cuda.is_available()
    name = lut.get("device_name")
    if name is None:
        if device == "cpu" or (device == "auto" and not cuda):
            threads = lat.options.get("threads", cpu_threads(recipe.search.cpus_per_trial))
            name = device_name("cpu", threads)  # as the trials time it
        elif cuda:
            name = torch.cuda.get_device_name(normalize_device(device))
        else:
            raise ConfigError(
                f"no latency predictor for latency.device {device!r}: this machine has no GPU "
                "to look its table up by name; set search.screen.lut.device_name to the GPU "
                "the trials run on (e.g. 'NVIDIA H200'), or search.screen.predictor: flops"
            )
    target = "cpu" if device == "cpu" or (device == "auto" and not cuda) else "cuda:0"
    backend = lut.get("backend") or latency.resolve_backend_name(lat.backend, target)
    store = lut.get("store")
    if store is not None and not Path(store).expanduser().is_file():
        raise ConfigError(
            f"no latency predictor: search.screen.lut.store {store!r} does not exist (relative "
            f"paths start from the working directory {Path.cwd()})"
        )
    return {
        "batch_size": lat.batch_size,
        "precision": lat.precision or ("fp32" if target == "cpu" else "fp16"),
        "backend": backend,
        "device_name": name,
        "store": str(Path(store).expanduser().resolve()) if store else None,
        "fill": lut.get("fill", "estimate"),
        "num_classes": recipe.num_classes or 1000,
    }


def open_lut(settings: dict[str, Any], space):
    """The table as a predictor of parameter dicts (module level: it pickles as a partial)."""
    return LUTPredictor(**settings, space=space)


def _prior_margin(lut) -> float:
    """3 × the table's fitted MAPE (at least 5 %); 15 % for a table with no correction."""
    corr = getattr(lut, "correction", None)
    mape = getattr(corr, "mape_after", None)
    if mape is None or not np.isfinite(mape):
        return 0.15
    return max(0.05, 3.0 * float(mape) / 100.0)


def make_latency_model(recipe, space, printer=print):
    """The screen's latency predictor for ``recipe`` (see the module docstring)."""
    spec = recipe.search.screen
    check_predictor_name(spec.predictor)
    if spec.predictor == "flops":
        return FlopsLatency(spec.calibration_trials)
    try:
        settings = lut_settings(recipe)
        lut = open_lut(settings, space)
        corner = Encoding(space).from_indices(np.zeros(len(space.params()), dtype=int))
        lut.predict_many([corner])  # a space the table cannot cut into layers fails here
    except ConfigError as exc:
        if spec.predictor == "lut":
            raise ConfigError(
                f"search.screen.predictor is 'lut' but there is no latency predictor for the "
                f"recipe's device: {exc}. Fill a table on that GPU (benchmarks/latency_lut.py), "
                "point search.screen.lut.store at one, or use predictor: flops"
            ) from None
        printer(
            f"[search] screen: no lookup table ({_first_sentence(exc)}); "
            "FLOPs calibrated on the trials measured"
        )
        return FlopsLatency(spec.calibration_trials)
    tid = lut.table_id
    description = (
        f"lookup table {tid.device_name}, {tid.backend}, {tid.precision}, batch {tid.batch_size}"
    )
    return TableLatency(
        functools.partial(open_lut, settings, space),
        space,
        description,
        prior_margin=_prior_margin(lut),
        min_points=spec.calibration_trials,
    )


def _first_sentence(exc: Exception) -> str:
    return str(exc).split(";")[0][:200]


def check_reachable(budget: Budget, model, space, seed: int = 0, margin: float | None = None):
    """With a table: the fastest (slowest) predicted candidate must pass the screen against
    the upper (lower) latency bound. Returns the predicted range it looked at."""
    if not budget.on_latency or model is None or model.kind != "lut":
        return None
    enc = Encoding(space)
    idx = enc.unit_to_indices(SobolStream(enc.dim, seed, block=1024).take(REACH_POOL))
    params = [enc.from_indices(np.zeros(enc.dim, dtype=int))] + [enc.from_indices(r) for r in idx]
    ms = model.predict_many(params)
    m = model.margin() if margin is None else margin
    fastest, slowest = float(ms.min()), float(ms.max())
    if budget.latency_ms is not None and fastest * (1 - m) > budget.latency_ms:
        raise ConfigError(
            f"search.latency_budget_ms {budget.latency_ms:g} is below the smallest latency the "
            f"predictor reaches: the fastest of {len(params)} candidates of space "
            f"{getattr(space, 'name', '')!r} is predicted at {fastest:.4g} ms by the "
            f"{model.description} (error margin {100 * m:.1f} %), so every candidate would be "
            f"screened out; raise the budget to at least {fastest * (1 - m):.4g} ms, or make "
            "the space smaller (fewer layers, lower resolution)"
        )
    if budget.latency_min_ms is not None and slowest * (1 + m) < budget.latency_min_ms:
        raise ConfigError(
            f"search.latency_min_ms {budget.latency_min_ms:g} is above the largest latency the "
            f"predictor reaches ({slowest:.4g} ms, {model.description}); lower it"
        )
    return {"fastest_predicted_ms": fastest, "slowest_predicted_ms": slowest, "pool": len(params)}


def make_screen(recipe, space, kind: str, printer=print) -> Screen | None:
    """The screen for a recipe's budget, checked; ``None`` when none applies (no budget,
    ``search.screen.enabled: false``, or a strategy that takes the budget itself, ``own``)."""
    spec = recipe.search
    budget = Budget.of_search(spec)
    if budget is None or not spec.screen.enabled or kind == "own":
        return None
    model = make_latency_model(recipe, space, printer) if budget.on_latency else None
    reach = check_reachable(budget, model, space, spec.seed, spec.screen.margin)
    screen = Screen(
        budget,
        space,
        model,
        BuildCost(space, recipe.num_classes or 1000),
        margin=spec.screen.margin,
    )
    screen.reach = reach
    return screen


def check_search_budget(recipe, space=None, printer=print) -> Screen | None:
    """Every budget check that needs the space and the latency settings, before any trial:
    the strategy against the budget (``strategy.validate``), the latency predictor for the
    recipe's device, and a reachable budget. Returns the screen (``None`` when none applies);
    ``accelsearch validate`` and ``accelsearch run`` call this."""
    spec = recipe.search
    budget = Budget.of_search(spec)
    if budget is None:
        return None
    space = space if space is not None else recipe.space.make()
    strategy.validate(
        spec.strategy,
        space,
        strategy.objective_from_options(spec.options),
        spec.seed,
        strategy.strategy_options(spec.options),
        budget=budget,
        screen=spec.screen.enabled,
    )
    kind = strategy.STRATEGIES.get(spec.strategy).constraints
    return make_screen(recipe, space, kind, printer)
