"""How the search driver puts a search on Ray: start or join the cluster, check that a
trial's resources exist there, and build the scheduler, the trainable and the ``Tuner``.

:class:`~accelsearch.search.driver.SearchDriver` calls these with its settings; they keep
no state. Ray is imported inside the functions (a heavy dependency, as it was in the
driver): :mod:`accelsearch.search.driver` sets Ray Tune's environment before Ray loads.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from accelsearch.core.errors import ConfigError
from accelsearch.search import strategy
from accelsearch.search.budget import Budget
from accelsearch.search.settings import SearchSettings
from accelsearch.search.trial import TrialContext, run_trial


def init_ray(
    address: str | None, printer: Callable[[str], Any], status: Callable[[str], None]
) -> None:
    """Start Ray (a small local cluster) or join the one at ``address``; says so through
    ``status`` (the observers) first and ``printer`` when ready. Nothing when Ray runs."""
    import ray

    if ray.is_initialized():
        return
    kwargs: dict[str, Any] = {
        "ignore_reinit_error": True,
        "logging_level": "ERROR",
        "log_to_driver": bool(int(os.environ.get("ACCELSEARCH_RAY_LOGS", "0"))),
    }
    where = f"joining the Ray cluster at {address}" if address else "starting Ray"
    status(f"[search] {where} ...")
    t0 = time.perf_counter()
    if address:
        kwargs["address"] = address
    else:
        kwargs["include_dashboard"] = False
        kwargs["num_cpus"] = os.cpu_count()
        # a search moves small results only; keep the local object store small so that
        # several local searches (tests, notebooks) fit on one machine
        kwargs["object_store_memory"] = (
            int(os.environ.get("ACCELSEARCH_OBJECT_STORE_MB", "256")) * 1024 * 1024
        )
    ctx = ray.init(**kwargs)
    res = ray.cluster_resources()
    what = (
        f"joined Ray cluster at {ctx.address_info.get('gcs_address', address)}"
        if address
        else f"Ray ready in {time.perf_counter() - t0:.0f} s"
    )
    printer(f"[search] {what} ({res.get('CPU', 0):g} CPUs, {res.get('GPU', 0):g} GPUs)")


def check_resources(
    settings: SearchSettings, address: str | None, printer: Callable[[str], Any]
) -> None:
    """A trial asking for more GPUs or CPUs than any node has would wait forever."""
    import ray

    total = ray.cluster_resources()
    for key, need in (("GPU", settings.gpus_per_trial), ("CPU", settings.cpus_per_trial)):
        have = float(total.get(key, 0.0))
        if need > have:
            msg = (
                f"search.{key.lower()}s_per_trial is {need:g} but the Ray cluster has "
                f"{have:g} {key}(s); lower it, or run on a machine/cluster with more"
            )
            if address:  # an autoscaling cluster may add nodes: say so, go on
                printer(f"[search] warning: {msg}")
            else:
                raise ConfigError(msg)
    note = gpu_sharing_note(settings)
    if note:
        printer(f"[search] note: {note}")


def gpu_sharing_note(settings: SearchSettings) -> str | None:
    """What a user should know when trials share a GPU and time their latency on it: the
    measurements take turns (the device lock), a training holds no lock."""
    share = settings.gpus_per_trial
    if not 0 < share < 1 or settings.max_concurrent < 2 or settings.trial.latency.device == "cpu":
        return None
    per_gpu = min(settings.max_concurrent, int(1 / share))
    if per_gpu < 2:
        return None
    return (
        f"up to {per_gpu} trials share each GPU (search.gpus_per_trial {share:g}): their "
        "latency measurements take turns, but one taken while another trial trains reads a "
        "few percent high (GPUNet at batch 1 on an H100: +4.4 % on average, at most +8.8 %; "
        "docs/search.md); search.gpus_per_trial: 1 keeps them apart"
    )


def make_scheduler(settings: SearchSettings, objective: strategy.Objective):
    """Ray Tune scheduler from the settings' ``scheduler`` (``asha`` or none)."""
    spec = settings.scheduler
    if not settings.scheduled:
        return None
    from ray.tune.schedulers import ASHAScheduler

    metric = spec.metric or ("accuracy" if objective.multi else objective.metrics[0])
    mode = strategy.METRIC_MODES.get(metric, "max")
    max_t = spec.max_t or settings.evaluator_epochs or 100
    if spec.grace_period > max_t:
        raise ConfigError(
            f"search.scheduler.grace_period ({spec.grace_period}) is above max_t ({max_t} "
            "epochs); lower grace_period or raise max_t"
        )
    return ASHAScheduler(
        time_attr="epoch",
        metric=metric,
        mode=mode,
        max_t=max_t,
        grace_period=spec.grace_period,
        reduction_factor=spec.reduction_factor,
        stop_last_trials=False,
    )


def make_trainable(settings: SearchSettings, space, evaluator, budget: Budget | None, gate: bool):
    """``run_trial`` with what the workers need (space, evaluator, budget) and the
    resources a trial asks for."""
    from ray import tune

    ctx = TrialContext.for_workers(
        space,
        evaluator,
        settings.trial,
        checkpoint_result=settings.resumable,
        checkpoint_epochs=settings.resumable and settings.scheduled,
        budget=budget,
        gate=gate,
    )
    resources = {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}
    return tune.with_resources(tune.with_parameters(run_trial, ctx=ctx), resources)


def make_tuner(
    settings: SearchSettings,
    trainable,
    param_space,
    search_alg,
    scheduler,
    objective: strategy.Objective,
    experiment: str,
    storage_path: str,
    callbacks: Sequence[Any],
):
    """The ``Tuner`` of a new search: ``experiment`` under ``storage_path``, the settings'
    samples, concurrency and failures, the trial result checkpoints a resume needs."""
    from ray import tune

    metric, mode = (None, None) if objective.multi else (objective.metrics[0], objective.modes[0])
    return tune.Tuner(
        trainable,
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=scheduler,
            metric=None if scheduler is not None else metric,
            mode=None if scheduler is not None else mode,
            num_samples=settings.num_samples,
            max_concurrent_trials=settings.max_concurrent,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=experiment,
            storage_path=storage_path,
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
            # a trial's result checkpoint makes Tune snapshot the experiment at once
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1 if settings.resumable else None),
            callbacks=list(callbacks),
            verbose=0,
        ),
    )
