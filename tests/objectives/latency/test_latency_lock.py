"""The per-device measurement lock, across processes and threads."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

import pytest

from accelsearch.errors import MeasurementError
from accelsearch.objectives.latency.lock import device_lock


def _hold(lock_dir: str, key: str, seconds: float, log, ready=None) -> None:
    import os

    os.environ["ACCELSEARCH_LOCK_DIR"] = lock_dir
    with device_lock(key):
        if ready is not None:
            ready.set()
        start = time.time()
        time.sleep(seconds)
        log.put((start, time.time()))


def test_processes_take_turns(tmp_path):
    ctx = mp.get_context("spawn")
    log = ctx.Queue()
    procs = [ctx.Process(target=_hold, args=(str(tmp_path), "gpu-t", 0.3, log)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    spans = sorted(log.get(timeout=5) for _ in procs)
    for (_, end), (start, _) in zip(spans, spans[1:]):
        assert start >= end - 1e-3, f"overlapping measurements: {spans}"


def test_other_devices_do_not_wait(tmp_path):
    ctx = mp.get_context("spawn")
    log = ctx.Queue()
    ready = ctx.Event()
    holder = ctx.Process(target=_hold, args=(str(tmp_path), "cuda0", 2.0, log, ready))
    holder.start()
    assert ready.wait(60)  # the child holds cuda0
    t = time.time()
    with device_lock("cuda1", timeout=2):
        pass
    assert time.time() - t < 1.0
    with pytest.raises(MeasurementError, match="still held"):
        with device_lock("cuda0", timeout=0.2):
            pass
    holder.join(60)


def test_reentrant_in_one_thread_and_exclusive_between_threads():
    with device_lock("cpu-r"):
        with device_lock("cpu-r"):  # a backend measuring through another one
            pass
    order = []

    def worker(name):
        with device_lock("cpu-r"):
            order.append((name, "in"))
            time.sleep(0.05)
            order.append((name, "out"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(0, 6, 2):
        assert order[i][0] == order[i + 1][0]
        assert (order[i][1], order[i + 1][1]) == ("in", "out")
