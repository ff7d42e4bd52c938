"""Proxy trainings in parallel worker processes that share one GPU.

Small proxy trainings leave a large GPU idle between kernel launches, so a few at once use
it better; each worker keeps the decoded dataset on the GPU between its trainings. A task is
a plain dict (``arch`` as JSON, ``options`` for ``TrainEvaluator``, ``seed``, ``device`` and
any keys the caller wants echoed back); a failed training comes back with ``error`` and its
reason instead of stopping the others. Latency must not be measured while a pool trains.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import time
import traceback
from collections.abc import Callable, Iterable
from typing import Any

ECHO = ("variant", "model", "seed", "key")


def train_task(task: dict[str, Any]) -> dict[str, Any]:
    """Train one arch with ``TrainEvaluator`` and return accuracy and its learning curve."""
    import torch

    from accelsearch import spaces  # noqa: F401  (the spaces register their block types)
    from accelsearch.arch import Arch
    from accelsearch.objectives.accuracy.train import TrainEvaluator, train_resolution

    torch.set_num_threads(2)
    t0 = time.perf_counter()
    rec = {k: task[k] for k in ECHO if k in task}
    try:
        arch = Arch.from_json(task["arch"])
        ev = TrainEvaluator(**task["options"], seed=task["seed"])
        rec["train_resolution"] = train_resolution(arch, ev.config)
        rec["arch_resolution"] = arch.resolution
        cuda = task["device"].startswith("cuda")
        if cuda:
            torch.cuda.reset_peak_memory_stats()
            rec["device_name"] = torch.cuda.get_device_name()
        rec["accuracy"] = ev.evaluate(arch)
        run = ev.last_run
        rec.update(
            accuracy_per_epoch=run["accuracy"], train_loss=run["train_loss"],
            val_loss=run["val_loss"], train_s=run["train_s"], eval_s=run["eval_s"],
            images_per_s=run["images_per_s"],
            unstable=run.get("unstable"), unstable_runs=run.get("unstable_runs", []),
        )  # fmt: skip
        if cuda:
            rec["peak_mem_gb"] = torch.cuda.max_memory_allocated() / 2**30
    except Exception as exc:  # a failed training is recorded with its reason; the rest go on
        rec["error"] = f"{type(exc).__name__}: {exc}"
        rec["traceback"] = traceback.format_exc(limit=6)
    rec["wall_s"] = time.perf_counter() - t0
    return rec


def warm_data(options: dict[str, Any]) -> None:
    """Decode the dataset once here, so the workers read the cached tensors."""
    from accelsearch.objectives.accuracy.train import TrainEvaluator

    TrainEvaluator(**options).data()


def run_pool(
    tasks: Iterable[dict[str, Any]],
    workers: int,
    on_result: Callable[[dict[str, Any]], None],
) -> float:
    """Run ``tasks`` on ``workers`` processes (in the given order); call ``on_result`` for
    each as it finishes; return the wall time of the whole batch."""
    tasks = list(tasks)
    if not tasks:
        return 0.0
    t0 = time.perf_counter()
    with cf.ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
        for fut in cf.as_completed([pool.submit(train_task, t) for t in tasks]):
            on_result(fut.result())
    return time.perf_counter() - t0
