"""One measurement at a time per device, across processes.

Concurrent Ray trials on one GPU would otherwise time each other's kernels. The lock is an
``fcntl`` file lock in the system temp folder keyed by device (``cuda0``, ``cpu``), so any
process on the machine that measures through accelsearch waits its turn.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator


def lock_path(device_key: str) -> str:
    folder = os.environ.get("ACCELSEARCH_LOCK_DIR", tempfile.gettempdir())
    return os.path.join(folder, f"accelsearch-measure-{device_key}.lock")


@contextlib.contextmanager
def device_lock(device_key: str) -> Iterator[None]:
    path = lock_path(device_key)
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
