"""Persistent latency cache (SQLite): a repeated query costs no device time.

A measurement is keyed by everything that changes the number: the structure that was timed
(``Arch.hash()`` for an arch or a module built from one, a digest of the module's text
form and parameter shapes otherwise), the backend and its timing options (CUDA graphs,
channels_last, threads, TensorRT typing, ...), the device *name* (so a cache copied to
another machine with the same GPU stays valid), precision, batch size, input resolution and
channels, number of classes, and the library versions (torch, TensorRT, ONNX Runtime).
Weight values are not part of the key: latency depends on the structure only.

Concurrency: each call opens its own connection in WAL mode with a long busy timeout and
retries when SQLite still reports the database as locked, so many processes (Ray trials)
can read and write one file. A row is written only after a measurement succeeded, in one
transaction, so a failed or interrupted measurement leaves the cache as it was.

Where: ``ACCELSEARCH_LATENCY_CACHE`` (a file path, or ``off`` to disable caching), else
``$ACCELSEARCH_CACHE/latency.sqlite`` (default ``~/.cache/accelsearch/latency.sqlite``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from accelsearch.core.errors import ConfigError
from accelsearch.objectives.latency.result import LatencyResult

_SCHEMA = """
CREATE TABLE IF NOT EXISTS latency (
    key TEXT PRIMARY KEY,
    model_hash TEXT NOT NULL,
    backend TEXT NOT NULL,
    device_name TEXT NOT NULL,
    precision TEXT NOT NULL,
    batch_size INTEGER NOT NULL,
    resolution INTEGER NOT NULL,
    fields TEXT NOT NULL,
    result TEXT NOT NULL,
    created REAL NOT NULL
)
"""
_OFF = ("off", "0", "false", "no", "none", "")


def cache_dir() -> Path:
    """accelsearch's cache folder (``ACCELSEARCH_CACHE``, default ``~/.cache/accelsearch``)."""
    return Path(os.environ.get("ACCELSEARCH_CACHE", Path.home() / ".cache" / "accelsearch"))


def default_cache_path() -> Path | None:
    """The latency cache file, or ``None`` when ``ACCELSEARCH_LATENCY_CACHE=off``."""
    env = os.environ.get("ACCELSEARCH_LATENCY_CACHE")
    if env is not None:
        return None if env.strip().lower() in _OFF else Path(env).expanduser()
    return cache_dir() / "latency.sqlite"


def key_digest(fields: dict[str, Any]) -> str:
    """Stable digest of a key's fields (sorted JSON)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def connect(path: Path | str, timeout: float = 60.0) -> sqlite3.Connection:
    """A connection for concurrent use: WAL journal, busy timeout, normal sync."""
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None)
    for _ in range(50):
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            time.sleep(0.05)
    else:
        mode = "delete"
    if str(mode).lower() == "wal":
        conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def retry_locked(fn, attempts: int = 100, delay: float = 0.05):
    """Run ``fn()`` again while SQLite reports the database as locked or busy."""
    for i in range(attempts):
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            msg = str(exc)
            if ("locked" not in msg and "busy" not in msg) or i == attempts - 1:
                raise
            time.sleep(delay * (1 + i % 5))
    return None  # unreachable


class LatencyCache:
    """Measured :class:`LatencyResult` objects by key (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"latency cache folder {str(self.path.parent)!r} cannot be created ({exc}); "
                "set ACCELSEARCH_LATENCY_CACHE to a writable file or 'off'"
            ) from None
        with self._conn() as conn:
            retry_locked(lambda: conn.execute(_SCHEMA))

    @contextlib.contextmanager
    def _conn(self) -> Iterator[sqlite3.Connection]:
        conn = connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def get(self, key: str) -> LatencyResult | None:
        """The cached result for ``key`` (marked ``cached=True``), or ``None``."""
        with self._conn() as conn:
            row = retry_locked(
                lambda: conn.execute("SELECT result FROM latency WHERE key = ?", (key,)).fetchone()
            )
        if row is None:
            return None
        return LatencyResult.from_json(row[0]).replace(cached=True)

    def put(self, key: str, fields: dict[str, Any], result: LatencyResult) -> None:
        """Store ``result`` under ``key`` in one transaction (replacing an older row)."""
        row = (
            key,
            str(fields.get("model_hash", "")),
            result.backend,
            result.device_name,
            result.precision,
            result.batch_size,
            result.resolution,
            json.dumps(fields, sort_keys=True, default=str),
            result.replace(cached=False).to_json(),
            time.time(),
        )

        def write() -> None:
            with self._conn() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.execute("INSERT OR REPLACE INTO latency VALUES (?,?,?,?,?,?,?,?,?,?)", row)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise

        retry_locked(write)

    def delete(self, key: str) -> None:
        with self._conn() as conn:
            retry_locked(lambda: conn.execute("DELETE FROM latency WHERE key = ?", (key,)))

    def __len__(self) -> int:
        with self._conn() as conn:
            return int(
                retry_locked(lambda: conn.execute("SELECT COUNT(*) FROM latency").fetchone()[0])
            )

    def results(self) -> list[LatencyResult]:
        """Every cached result (for reports and exports)."""
        with self._conn() as conn:
            rows = retry_locked(lambda: conn.execute("SELECT result FROM latency").fetchall())
        return [LatencyResult.from_json(r[0]).replace(cached=True) for r in rows]

    def integrity_ok(self) -> bool:
        with self._conn() as conn:
            return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def open_cache(cache: bool | str | Path | LatencyCache | None) -> LatencyCache | None:
    """``True``/``None`` -> the default cache (unless disabled); ``False`` -> none; a path or
    a :class:`LatencyCache` -> that one."""
    if isinstance(cache, LatencyCache):
        return cache
    if cache is False:
        return None
    if cache is True or cache is None:
        path = default_cache_path()
        return LatencyCache(path) if path is not None else None
    if isinstance(cache, (str, Path)):
        if str(cache).strip().lower() in _OFF:
            return None
        return LatencyCache(cache)
    raise ConfigError(
        f"latency option cache={cache!r}; valid: True, False, a file path or a LatencyCache"
    )
