"""The recipe translated into the search room's settings (the boundary of issue 17).

The search room (:mod:`accelsearch.search`) never reads a recipe: :func:`search_settings`
is the one place that reads a recipe for the search driver and its trials, and
:func:`resolve_strategy` the one that turns ``search.strategy: auto`` into a strategy.
"""

from __future__ import annotations

from typing import Any

from accelsearch.recipe import Recipe
from accelsearch.search import strategy, strategy_auto
from accelsearch.search.budget import Budget
from accelsearch.search.settings import (
    LatencySettings,
    SchedulerSettings,
    SearchSettings,
    TrialSettings,
)
from accelsearch.search.trial import TrialContext


def search_settings(recipe: Recipe) -> SearchSettings:
    """Everything the search driver and its trials read from ``recipe``."""
    spec, lat = recipe.search, recipe.latency
    latency = LatencySettings(
        backend=lat.backend,
        device=lat.device,
        precision=lat.precision,
        batch_size=lat.batch_size,
        protocol=dict(lat.protocol),
        options=dict(lat.options),
        default_threads=max(1, int(spec.cpus_per_trial)),
    )
    trial = TrialSettings(
        latency=latency,
        reward_target_ms=recipe.reward.target_ms,
        reward_w=recipe.reward.w,
        num_classes=recipe.num_classes or 1000,
        cpus=max(1, int(spec.cpus_per_trial)),
    )
    sched = spec.scheduler
    epochs = recipe.accuracy.options.get("epochs")
    return SearchSettings(
        trial=trial,
        space_name=recipe.space.name,
        strategy=spec.strategy,
        num_samples=spec.num_samples,
        max_concurrent=spec.max_concurrent,
        cpus_per_trial=spec.cpus_per_trial,
        gpus_per_trial=spec.gpus_per_trial,
        max_failures=spec.max_failures,
        seed=spec.seed,
        options=dict(spec.options),
        scheduler=None if sched is None else SchedulerSettings(**sched.model_dump()),
        storage_path=spec.storage_path,
        resumable=spec.resumable,
        evaluator_epochs=int(epochs) if isinstance(epochs, int) and epochs > 0 else None,
        budget=Budget.of_search(spec),
        screen_enabled=spec.screen.enabled,
        screen_max_per_trial=spec.screen.max_per_trial,
    )


def latency_kwargs(recipe: Recipe) -> dict[str, Any]:
    """Keyword arguments for ``latency.get_backend`` from a recipe, as its trials use them
    (on a CPU the thread count defaults to a trial's CPUs, so that trials in Ray workers and
    LACS in the driver time with as many threads)."""
    return search_settings(recipe).trial.latency.backend_kwargs()


def trial_context(recipe: Recipe, space, evaluator=None) -> TrialContext:
    """What a trial of ``recipe`` needs (the recipe's evaluator unless one is given), ready
    to ship to Ray workers."""
    evaluator = evaluator if evaluator is not None else recipe.accuracy.make()
    return TrialContext.for_workers(space, evaluator, search_settings(recipe).trial)


def resolve_strategy(recipe: Recipe, space=None, printer=print) -> Recipe:
    """``recipe`` with ``search.strategy: auto`` replaced by the strategy it resolves to
    (:mod:`accelsearch.search.strategy_auto`); a named strategy is returned as it is.

    The choice and why are printed; the returned recipe names the strategy, so
    ``recipe.json``, ``search.json`` and the MLflow tags record it and ``accelsearch resume``
    runs the same one.
    """
    spec = recipe.search
    if spec.strategy != strategy_auto.AUTO:
        return recipe
    space = space if space is not None else recipe.space.make()
    objective = strategy.objective_from_options(spec.options)
    budget = Budget.of_search(spec)
    choice = strategy_auto.choose(
        space, objective, strategy.strategy_options(spec.options), budget, spec.num_samples
    )
    strategy.validate(choice.name, space, objective, spec.seed, choice.options, budget)
    printer(f"[search] strategy auto: {choice.name} ({choice.reason})")
    resolved = recipe.model_copy(deep=True)
    objectives = {k: v for k, v in spec.options.items() if k == "objectives"}
    resolved.search.options = {**objectives, **choice.options}
    resolved.search.strategy = choice.name
    return resolved
