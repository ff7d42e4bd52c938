"""The trial function every strategy drives: decode, build, measure, train, report.

Runs inside a Ray worker. Each epoch of accuracy evaluation sends one report with every
metric (so schedulers such as ASHA can stop a weak trial early); an exception fails the
trial, Ray records its traceback, the MLflow callback logs it, and the search goes on.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from accelsearch.recipe import Recipe

REPORTED_METRICS = (
    "accuracy",
    "latency_ms",
    "reward",
    "params_m",
    "gflops",
    "gmacs",
)


@dataclass
class TrialContext:
    """What a trial needs besides its parameters (pickled and shipped to Ray workers).

    The space travels as an object, so a space defined in a user's script or notebook
    reaches the workers without being importable there (see ``ship_by_value``).
    """

    recipe: Recipe
    space: Any

    @property
    def num_classes(self) -> int:
        return self.recipe.num_classes or 1000


def latency_kwargs(recipe: Recipe) -> dict[str, Any]:
    """Keyword arguments for ``latency.get_backend`` from a recipe.

    On CPU the thread count defaults to the trial's CPUs, so that trials (in Ray workers)
    and LACS (in the driver) time with the same number of threads.
    """
    spec = recipe.latency
    options = dict(spec.options)
    if spec.device in ("cpu",) or (spec.device == "auto" and not _cuda()):
        options.setdefault("threads", max(1, int(recipe.search.cpus_per_trial)))
    return dict(
        backend=spec.backend,
        device=spec.device,
        precision=spec.precision,
        protocol=spec.protocol,
        **options,
    )


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def evaluate_arch(ctx: TrialContext, arch, report=None, latency_backend=None) -> dict[str, Any]:
    """Measure and evaluate one arch; ``report(metrics)`` after each accuracy epoch."""
    import torch

    from accelsearch.accounting import model_cost
    from accelsearch.objectives import latency
    from accelsearch.objectives.reward import mnas_reward

    rec = ctx.recipe
    t0 = time.perf_counter()
    model = ctx.space.build(arch, num_classes=ctx.num_classes)
    cost = model_cost(model, arch.resolution, arch.in_chans)
    lat_spec = rec.latency
    if latency_backend is None:
        lat = latency.measure(
            model,
            batch_size=lat_spec.batch_size,
            resolution=arch.resolution,
            **latency_kwargs(rec),
        )
    else:
        lat = latency_backend.measure(model, lat_spec.batch_size, arch.resolution)
    del model
    base = {
        "latency_ms": lat.median_ms,
        "latency_cv": lat.cv,
        "latency_noisy": int(lat.noisy),
        "params_m": cost.params_m,
        "gflops": cost.gflops,
        "gmacs": cost.gmacs,
        "latency_backend": lat.backend + (f"/{lat.mode}" if lat.mode else ""),
        "latency_device": lat.device_name,
        "latency_precision": lat.precision,
        "latency_batch_size": lat.batch_size,
        "arch": str(arch),
    }
    evaluator = rec.accuracy.make()
    out: dict[str, Any] = {}

    def on_epoch(epoch: int, acc: float) -> None:
        out.update(base)
        out.update(
            accuracy=acc,
            epoch=epoch,
            reward=mnas_reward(acc, lat.median_ms, rec.reward.target_ms, rec.reward.w),
            eval_s=time.perf_counter() - t0,
        )
        if report is not None:
            report(dict(out))

    acc = evaluator.evaluate(arch, on_epoch)
    if not out:  # an evaluator that never reported
        on_epoch(1, acc)
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def run_trial(config: dict[str, Any], ctx: TrialContext) -> None:
    """Ray Tune function trainable."""
    import torch
    from ray import tune

    cpus = max(1, int(ctx.recipe.search.cpus_per_trial))
    torch.set_num_threads(cpus)
    arch = ctx.space.decode(config)
    evaluate_arch(ctx, arch, report=tune.report)


def ship_by_value(obj: Any) -> None:
    """Let Ray pickle ``obj``'s class by value when its module is not an installed package.

    A custom space defined in ``__main__``, a notebook or a test module is then usable in
    Ray workers that cannot import that module.
    """
    import sys

    from ray import cloudpickle

    name = type(obj).__module__
    module = sys.modules.get(name)
    if module is None or name == "__main__" or name.startswith("accelsearch"):
        return
    try:
        cloudpickle.register_pickle_by_value(module)
    except ValueError:
        pass  # already registered
