"""The per-device measurement lock, across processes and threads."""

from __future__ import annotations

import multiprocessing as mp
import threading
import time

import pytest

from accelsearch.core.errors import MeasurementError
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


def test_lock_key_is_the_physical_gpu_not_its_index(monkeypatch):
    """Ray trials each see their GPU as cuda:0: the key must tell the GPUs apart."""
    import types

    import torch

    from accelsearch.objectives.latency.lock import lock_key

    uuids = {0: "GPU-1a2b3c4d-0000-1111-2222-333344445555"}
    monkeypatch.setattr(
        torch.cuda, "get_device_properties", lambda i: types.SimpleNamespace(uuid=uuids[i])
    )
    assert lock_key("cpu") == "cpu"
    assert lock_key("cuda:0") == "gpu-GPU1a2b3c4d000011112222333344445555"
    uuids[0] = "GPU-ffff"
    assert lock_key("cuda:0") == "gpu-GPUffff"  # another process, another GPU, same index


def test_lock_key_without_uuid_maps_visible_devices(monkeypatch):
    import torch

    from accelsearch.objectives.latency.lock import lock_key

    def no_props(i):
        raise RuntimeError("no CUDA")

    monkeypatch.setattr(torch.cuda, "get_device_properties", no_props)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert lock_key("cuda:1") == "cuda3"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-aaaa")
    assert lock_key("cuda:0") == "cuda0"
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert lock_key("cuda:2") == "cuda2"
