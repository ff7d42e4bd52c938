"""One measurement at a time per device, across processes and threads.

Concurrent Ray trials on one GPU would otherwise time each other's kernels. The lock is an
``fcntl`` file lock in the system temp folder keyed by device (:func:`lock_key`: ``cpu``, or
the GPU's UUID), so any process on the machine that measures through accelsearch waits its
turn. The key is the physical GPU, not its index: Ray gives each GPU trial its own
``CUDA_VISIBLE_DEVICES``, so every trial sees its GPU as ``cuda:0``; keyed by index, trials
on four different GPUs would wait for each other. Inside one
process a per-device re-entrant thread lock goes in front of it: threads take turns too,
and a thread that already holds a device's lock may take it again (the LUT backend fills
its table through another backend, which locks the same device) without deadlocking on
its own file lock.

``ACCELSEARCH_LOCK_DIR`` moves the lock files (all processes that share a GPU must agree).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import IO

from accelsearch.core.errors import MeasurementError

_guard = threading.Lock()
_thread_locks: dict[str, threading.RLock] = {}
_held: dict[str, list] = {}  # device key -> [open file, depth]


def lock_key(device: str) -> str:
    """The lock key of a normalised device (``cpu``, ``cuda:N``): ``cpu``, or ``gpu-`` and
    the GPU's UUID; where PyTorch gives no UUID, ``cudaN`` with N the index among all the
    machine's GPUs (``CUDA_VISIBLE_DEVICES`` mapped back when it lists plain indices)."""
    if device == "cpu":
        return "cpu"
    index = int(device.split(":")[1])
    import torch

    try:
        uuid = str(torch.cuda.get_device_properties(index).uuid)
    except (AttributeError, RuntimeError, AssertionError):
        uuid = ""
    uuid = "".join(c for c in uuid if c.isalnum())
    if uuid:
        return "gpu-" + uuid[:48]
    visible = [v.strip() for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")]
    if index < len(visible) and visible[index].isdigit():
        return f"cuda{visible[index]}"
    return f"cuda{index}"


def lock_path(device_key: str) -> str:
    folder = os.environ.get("ACCELSEARCH_LOCK_DIR", tempfile.gettempdir())
    return os.path.join(folder, f"accelsearch-measure-{device_key}.lock")


def _thread_lock(device_key: str) -> threading.RLock:
    with _guard:
        lock = _thread_locks.get(device_key)
        if lock is None:
            lock = _thread_locks[device_key] = threading.RLock()
        return lock


def _acquire_file(path: str, timeout: float | None) -> IO[str]:
    fh = open(path, "a+")
    if timeout is None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        return fh
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() >= deadline:
                fh.close()
                raise MeasurementError(
                    f"device lock {path!r} is still held by another process after "
                    f"{timeout:.0f} s; wait for the other measurement or raise the timeout"
                ) from None
            time.sleep(0.01)


@contextlib.contextmanager
def device_lock(device_key: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the measurement lock of ``device_key`` (re-entrant within a thread).

    ``timeout`` (seconds) bounds the wait for the file lock held by another process;
    ``None`` waits as long as it takes.
    """
    tlock = _thread_lock(device_key)
    if not tlock.acquire(timeout=-1 if timeout is None else timeout):
        raise MeasurementError(
            f"device lock {device_key!r} is held by another thread after {timeout:.0f} s"
        )
    try:
        entry = _held.get(device_key)
        if entry is None:
            fh = _acquire_file(lock_path(device_key), timeout)
            entry = _held[device_key] = [fh, 0]
        entry[1] += 1
        try:
            yield
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                del _held[device_key]
                fh = entry[0]
                fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
                fh.close()
    finally:
        tlock.release()
