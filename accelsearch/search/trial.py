"""The trial function every strategy drives: decode, build, measure, train, report.

Runs inside a Ray worker. Each epoch of accuracy evaluation sends one report with every
metric (so schedulers such as ASHA can stop a weak trial early). The final report carries a
tiny checkpoint (``result.json``); Ray Tune then snapshots the experiment, and a trial
restarted by ``accelsearch resume`` finds that checkpoint and reports the stored result
instead of evaluating again.

With a search budget and the screen on (``TrialContext.gate``), a trial checks the budget
before each expensive step: parameters and GFLOPs right after the build (before the GPU
measures anything), latency right after the measurement (before any training). A candidate
over the budget ends there with one report (``feasible: 0``, ``infeasible``: why, no
accuracy), so no GPU-second goes to training it. Every trial under a budget reports
``feasible``; ``measure_s`` and ``train_s`` split its time for the GPU-seconds summary.

An exception raised by the trial's own work (decode, build, measurement, evaluation) ends
the trial with a report ``{"trial_error": traceback}``: the trial is recorded as failed with
that text (MLflow ``error.txt``), the searcher is told it failed, and the search goes on. It
is not retried: retries (``search.max_failures``) are for trials whose *worker* died.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from accelsearch.core.accounting import model_cost
from accelsearch.core.errors import AccelSearchError
from accelsearch.objectives import latency, roofline
from accelsearch.objectives.reward import mnas_reward
from accelsearch.search.budget import Budget
from accelsearch.search.settings import TrialSettings, cpu_threads

REPORTED_METRICS = (
    "accuracy",
    "latency_ms",
    "reward",
    "params_m",
    "gflops",
    "gmacs",
    "intensity",
    "utilisation",
)

RESULT_FILE = "result.json"


@dataclass
class TrialContext:
    """What a trial needs besides its parameters (pickled and shipped to Ray workers).

    The space and the accuracy evaluator travel as objects and registered latency backends
    as classes, so that ones defined in a user's script, notebook or test module reach the
    workers without being importable there (see ``ship_by_value``).
    """

    space: Any
    evaluator: Any
    settings: TrialSettings
    latency_backends: dict[str, type] = field(default_factory=dict)
    #: the final report carries the result as a checkpoint (``search.resumable``)
    checkpoint_result: bool = True
    #: checkpoint every epoch's report too (with a scheduler that stops trials early, so
    #: that a stopped trial is in Ray Tune's next snapshot at once)
    checkpoint_epochs: bool = False
    #: the search's budget (``None``: unconstrained); trials report ``feasible`` against it
    budget: Budget | None = None
    #: stop a trial over the budget before it is measured (params, GFLOPs) or trained
    gate: bool = False

    @property
    def num_classes(self) -> int:
        return self.settings.num_classes

    @classmethod
    def for_workers(cls, space, evaluator, settings: TrialSettings, **flags) -> TrialContext:
        """Built in the driver: ships the space, the evaluator and the latency backend that
        the settings name to Ray workers (``flags``: ``checkpoint_result``, ...)."""

        backends = {}
        name = settings.latency.backend
        if name in latency.BACKENDS:
            backends[name] = latency.BACKENDS.get(name)
        ctx = cls(space, evaluator, settings, backends, **flags)
        for obj in (space, evaluator, *backends.values()):
            ship_by_value(obj)
        return ctx

    def prepare_worker(self) -> None:
        """Re-register the driver's latency backends in this worker's registry."""

        for name, cls in self.latency_backends.items():
            latency.BACKENDS.add(name, cls, replace=True)


def roofline_metrics(model, arch, lat, num_classes: int = 1000) -> dict[str, float]:
    """``intensity`` (FLOP/byte) and ``utilisation`` (achieved ÷ peak FLOP/s) of a measured
    model, from :func:`accelsearch.objectives.roofline.efficiency_metrics`. A device whose
    peaks are unknown gives ``{}`` (the trial goes on without them).
    """
    try:
        out = roofline.efficiency_metrics(model, lat, num_classes=num_classes)
    except AccelSearchError:
        return {}
    return {k: float(out[k]) for k in ("intensity", "utilisation") if out.get(k) is not None}


def evaluate_arch(ctx: TrialContext, arch, report=None, latency_backend=None) -> dict[str, Any]:
    """Measure and evaluate one arch; ``report(metrics)`` after each accuracy epoch."""
    import torch

    settings = ctx.settings
    t0 = time.perf_counter()
    model = ctx.space.build(arch, num_classes=ctx.num_classes)
    cost = model_cost(model, arch.resolution, arch.in_chans)
    sizes = {"params_m": cost.params_m, "gflops": cost.gflops, "gmacs": cost.gmacs}
    if ctx.gate and not ctx.budget.feasible(sizes):  # exact sizes: no GPU needed
        return _infeasible(ctx.budget, sizes, arch, t0)
    lat_settings = settings.latency
    if latency_backend is None:
        lat = latency.measure(
            model,
            batch_size=lat_settings.batch_size,
            resolution=arch.resolution,
            **lat_settings.backend_kwargs(),
        )
    else:
        lat = latency_backend.measure(model, lat_settings.batch_size, arch.resolution)
    roof = roofline_metrics(model, arch, lat, ctx.num_classes)
    del model
    base = {
        "latency_ms": lat.median_ms,
        "latency_cv": lat.cv,
        "latency_noisy": int(lat.noisy),
        "latency_cached": int(lat.cached),  # read from the latency cache, not measured now
        "params_m": cost.params_m,
        "gflops": cost.gflops,
        "gmacs": cost.gmacs,
        **roof,
        "latency_backend": lat.backend + (f"/{lat.mode}" if lat.mode else ""),
        "latency_device": lat.device_name,
        "latency_precision": lat.precision,
        "latency_batch_size": lat.batch_size,
        "arch": str(arch),
        "measure_s": time.perf_counter() - t0,
    }
    if ctx.budget is not None:
        base["feasible"] = int(ctx.budget.feasible(base))
        if ctx.gate and not base["feasible"]:  # measured over the budget: not trained
            return {**base, "infeasible": ctx.budget.reason(base)}
    evaluator = ctx.evaluator
    out: dict[str, Any] = {}
    t_train = time.perf_counter()

    def on_epoch(epoch: int, acc: float) -> None:
        out.update(base)
        out.update(
            accuracy=acc,
            epoch=epoch,
            reward=mnas_reward(acc, lat.median_ms, settings.reward_target_ms, settings.reward_w),
            eval_s=time.perf_counter() - t0,
            train_s=time.perf_counter() - t_train,
        )
        if report is not None:
            report(dict(out))

    acc = evaluator.evaluate(arch, on_epoch)
    if not out:  # an evaluator that never reported
        on_epoch(1, acc)
    out.update(proxy_run_metrics(evaluator))
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def proxy_run_metrics(evaluator) -> dict[str, int]:
    """What a training evaluator says of the run its accuracy came from (read after
    ``evaluate``): ``proxy_seed``, the seed kept; ``proxy_unstable`` 1 when that run's loss
    spiked mid-schedule (kept because no retry was left, ``accuracy.retry_unstable``);
    ``proxy_retries``, the runs trained again for a spike. Other evaluators: ``{}``."""
    run = getattr(evaluator, "last_run", None)
    if not isinstance(run, dict) or "seed" not in run:
        return {}
    return {
        "proxy_seed": int(run["seed"]),
        "proxy_unstable": int("unstable" in run),
        "proxy_retries": len(run.get("unstable_runs") or []),
    }


def _infeasible(budget: Budget, sizes: dict[str, float], arch, t0: float) -> dict[str, Any]:
    """The one report of a trial stopped before the GPU by its exact sizes."""
    return {
        **sizes,
        "feasible": 0,
        "infeasible": budget.reason(sizes),
        "arch": str(arch),
        "measure_s": time.perf_counter() - t0,
    }


def run_trial(config: dict[str, Any], ctx: TrialContext) -> None:
    """Ray Tune function trainable."""
    import torch
    from ray import tune

    stored = _stored_result(tune.get_checkpoint())
    if stored is not None:  # finished before the driver was stopped: report, don't redo
        tune.report({**stored, "replayed": 1})
        return
    _separate_gpu_locks()
    torch.set_num_threads(cpu_threads(ctx.settings.cpus))  # a core left to Ray and the driver

    # With a scheduler every epoch is reported at once (it may stop the trial) and the end
    # is reported once more with the result; without one, each epoch is reported when the
    # next one arrives, so the last epoch's report is the final one (one report fewer).
    held: list[dict[str, Any]] = []

    def report_epoch(metrics: dict[str, Any]) -> None:
        if ctx.checkpoint_epochs:
            _report_with_result(metrics, final=False)
            return
        if held:
            tune.report(held.pop())
        held.append(metrics)

    try:
        ctx.prepare_worker()
        arch = ctx.space.decode(config)
        out = evaluate_arch(ctx, arch, report=report_epoch)
    except Exception as exc:  # noqa: BLE001 - any error of the trial's own work fails it
        tune.report(
            {
                "trial_error": traceback.format_exc()[-8000:],
                "error_type": type(exc).__name__,
                "error": f"{type(exc).__name__}: {exc}"[:1000],
            }
        )
        return
    repeat = {"repeat": 1} if ctx.checkpoint_epochs else {}
    if ctx.checkpoint_result:
        _report_with_result({**out, "final": 1, **repeat}, final=True)
    else:
        tune.report({**out, "final": 1, **repeat})


def _report_with_result(metrics: dict[str, Any], final: bool) -> None:
    """``tune.report`` with a checkpoint holding the metrics (Tune snapshots on it)."""
    from ray import tune

    with tempfile.TemporaryDirectory(prefix="accelsearch-result-") as tmp:
        with open(os.path.join(tmp, RESULT_FILE), "w") as fh:
            json.dump({"final": final, "metrics": metrics}, fh, default=str)
        tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def _stored_result(checkpoint) -> dict[str, Any] | None:
    """The final metrics a restored trial had reported (``None``: it had not finished)."""
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as d:
        path = os.path.join(d, RESULT_FILE)
        if not os.path.exists(path):
            return None
        with open(path) as fh:
            data = json.load(fh)
    return data["metrics"] if data.get("final") else None


def _separate_gpu_locks() -> None:
    """Give each physical GPU its own measurement lock.

    Ray sets ``CUDA_VISIBLE_DEVICES`` per trial, so every trial sees its GPU as ``cuda:0``
    and the per-device lock (``objectives/latency/lock.py``, keyed by the logical index)
    would serialise measurements on different GPUs. Keying the lock folder by the visible
    devices keeps one lock per physical GPU.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES", "")
    if not visible or "ACCELSEARCH_LOCK_DIR" in os.environ:
        return
    folder = os.path.join(
        tempfile.gettempdir(), "accelsearch-locks", "gpu-" + visible.replace(",", "_")
    )
    os.makedirs(folder, exist_ok=True)
    os.environ["ACCELSEARCH_LOCK_DIR"] = folder


def ship_by_value(obj: Any) -> None:
    """Let Ray pickle ``obj``'s class by value when its module is not an installed package.

    A custom space, evaluator or backend defined in ``__main__``, a notebook or a test
    module is then usable in Ray workers that cannot import that module.
    """
    import sys

    from ray import cloudpickle

    if obj is None:
        return
    cls = obj if isinstance(obj, type) else type(obj)
    name = cls.__module__
    module = sys.modules.get(name)
    if module is None or name == "__main__" or name.startswith("accelsearch"):
        return
    try:
        cloudpickle.register_pickle_by_value(module)
    except ValueError:
        pass  # already registered


def last_line(text: str) -> str:
    """The last non-empty line of an error text (a traceback's exception), at most 500
    characters."""
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1][:500] if lines else text[:500]
