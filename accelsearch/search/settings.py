"""What the search driver and its trials read: small frozen settings, not the recipe.

The application layer translates a recipe into these once
(:func:`accelsearch.recipe_settings.search_settings`); the search room never sees the recipe.
They are plain data, so they pickle to Ray workers and compare by value.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from accelsearch.search.budget import Budget


@dataclass(frozen=True)
class LatencySettings:
    """How a trial measures latency: ``latency.measure``'s backend, device, precision,
    timing protocol and backend options, and the batch size it times."""

    backend: str = "auto"
    device: str = "auto"
    precision: str | None = None
    batch_size: int = 1
    protocol: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    #: CPU threads when timing on a CPU and ``options`` names none (a trial's CPUs, capped
    #: by :func:`cpu_threads` where it runs), so that trials (in Ray workers) and LACS (in
    #: the driver) time with as many threads
    default_threads: int = 1

    def backend_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``latency.get_backend`` / ``latency.measure``.

        Called where the measurement runs: ``device: auto`` means the CPU there when that
        machine has no CUDA device.
        """
        options = dict(self.options)
        if self.device == "cpu" or (self.device == "auto" and not _cuda()):
            options.setdefault("threads", cpu_threads(self.default_threads))
        return dict(
            backend=self.backend,
            device=self.device,
            precision=self.precision,
            protocol=self.protocol,
            **options,
        )


def cpu_threads(cpus: float, cores: int | None = None) -> int:
    """PyTorch threads for a trial's CPU work (timing and training): its ``cpus``, but never
    every core of the machine it runs on (``cores``, default those this process may use).

    One core is left to the search driver, Ray's own processes and the OS. With as many
    OpenMP threads as cores, any other runnable process deschedules one of them and the
    others spin at every operator's barrier until it returns: on the shared 2-core machine
    the quickstart is measured on, a batch-8 forward of one of its models took 25-250 ms with
    2 threads and 4-7 ms with 1 (in a Ray Tune trial, a Ray task and the driver alike), and a
    training epoch 13-31 s against 1.4 s (``benchmarks/results/latency/cpu_threads.md``).
    """
    cores = usable_cores() if cores is None else cores
    return max(1, min(int(cpus), cores - 1))


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS says, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _cuda() -> bool:
    import torch  # heavy: only where a measurement is about to run

    return torch.cuda.is_available()


@dataclass(frozen=True)
class TrialSettings:
    """What one trial needs besides its space, evaluator and parameters."""

    latency: LatencySettings
    #: MnasNet reward ``acc × (lat/target_ms)^w``
    reward_target_ms: float
    reward_w: float = -0.09
    #: classes of the head every candidate is built with
    num_classes: int = 1000
    #: CPUs Ray gives a trial (at least 1); its torch threads are ``cpu_threads(cpus)``
    cpus: int = 1


@dataclass(frozen=True)
class SchedulerSettings:
    """Ray Tune trial scheduler (``asha``) that stops weak trials after early epochs."""

    name: str = "asha"
    #: the metric it compares (None: the objective; ``accuracy`` with several)
    metric: str | None = None
    grace_period: int = 1
    reduction_factor: float = 2.0
    #: most epochs a trial runs (None: the evaluator's ``epochs``, else 100)
    max_t: int | None = None


@dataclass(frozen=True)
class SearchSettings:
    """A search on Ray Tune: strategy, budget, resources, scheduler, storage, trials.

    ``options`` are the strategy's options with the objective keys
    (``strategy.objective_from_options`` / ``strategy_options`` split them).
    """

    trial: TrialSettings
    #: the space's name, for the result (a space object passed in may be unregistered)
    space_name: str = ""
    strategy: str = "optuna-tpe"
    num_samples: int = 8
    max_concurrent: int = 1
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 0
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    scheduler: SchedulerSettings | None = None
    #: Ray Tune's experiment storage (None: ``<output_dir>/ray``)
    storage_path: str | None = None
    #: every trial's final report carries a checkpoint, so a resume never repeats it
    resumable: bool = True
    #: epochs the accuracy evaluator trains (the scheduler's default ``max_t``)
    evaluator_epochs: int | None = None
    #: the search's budget (latency, params, GFLOPs; None: unconstrained)
    budget: Budget | None = None
    #: with a budget, screen candidates before the GPU and stop trials over it
    screen_enabled: bool = True
    #: rejections in a row before a candidate goes to a trial anyway
    screen_max_per_trial: int = 200

    @property
    def scheduled(self) -> bool:
        """A scheduler that may stop trials early is in use."""
        return self.scheduler is not None and self.scheduler.name != "fifo"
