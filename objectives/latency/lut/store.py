"""The lookup table's file: layer latencies and corrections in one SQLite file."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from accelsearch.objectives.latency.cache import cache_dir, connect, retry_locked
from accelsearch.objectives.latency.lut.correction import Correction


@dataclass(frozen=True)
class TableId:
    """One lookup table: where and how its layers were timed."""

    device_name: str
    backend: str
    options: str  # canonical JSON of the measuring backend's timing options
    precision: str
    batch_size: int
    library: str  # e.g. "torch 2.11", "tensorrt 10.3"

    @property
    def text(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> TableId:
        return cls(**json.loads(text))


_LUT_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS layers (
        tbl TEXT NOT NULL, layer TEXT NOT NULL, median_ms REAL NOT NULL, cv REAL,
        n INTEGER, mode TEXT, created REAL, PRIMARY KEY (tbl, layer))""",
    """CREATE TABLE IF NOT EXISTS corrections (
        tbl TEXT NOT NULL, scope TEXT NOT NULL, data TEXT NOT NULL, created REAL,
        PRIMARY KEY (tbl, scope))""",
)


def default_store_path() -> Path:
    return cache_dir() / "lut.sqlite"


class LUTStore:
    """Layer latencies and corrections in one SQLite file (WAL, concurrent writers)."""

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_store_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._conn() as conn:
            for stmt in _LUT_SCHEMA:
                retry_locked(lambda s=stmt: conn.execute(s))

    @contextlib.contextmanager
    def _conn(self):
        conn = connect(self.path)
        try:
            yield conn
        finally:
            conn.close()

    def table(self, tid: TableId) -> dict[str, float]:
        """Every layer latency (ms) of one table, by layer text."""
        with self._conn() as conn:
            rows = retry_locked(
                lambda: conn.execute(
                    "SELECT layer, median_ms FROM layers WHERE tbl = ?", (tid.text,)
                ).fetchall()
            )
        return {layer: float(ms) for layer, ms in rows}

    def put_many(self, tid: TableId, rows: Sequence[tuple[str, float, float, int, str]]) -> None:
        """Store (layer text, median ms, cv, n, mode) rows in one transaction."""
        now = time.time()
        data = [(tid.text, layer, ms, cv, n, mode, now) for layer, ms, cv, n, mode in rows]

        def write() -> None:
            with self._conn() as conn:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    conn.executemany("INSERT OR REPLACE INTO layers VALUES (?,?,?,?,?,?,?)", data)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise

        retry_locked(write)

    def tables(self) -> dict[TableId, int]:
        """Every table in the file with its number of layers."""
        with self._conn() as conn:
            rows = retry_locked(
                lambda: conn.execute("SELECT tbl, COUNT(*) FROM layers GROUP BY tbl").fetchall()
            )
        return {TableId.from_text(t): int(n) for t, n in rows}

    def put_correction(self, tid: TableId, scope: str, corr: Correction) -> None:
        row = (tid.text, scope, json.dumps(asdict(corr)), time.time())
        with self._conn() as conn:
            retry_locked(
                lambda: conn.execute("INSERT OR REPLACE INTO corrections VALUES (?,?,?,?)", row)
            )

    def correction(self, tid: TableId, scope: str) -> Correction | None:
        with self._conn() as conn:
            row = retry_locked(
                lambda: conn.execute(
                    "SELECT data FROM corrections WHERE tbl = ? AND scope = ?", (tid.text, scope)
                ).fetchone()
            )
        return Correction(**json.loads(row[0])) if row else None


def library_of(backend: str, versions: dict[str, str]) -> str:
    """The timing library and its major.minor version, e.g. ``torch 2.11``."""
    lib = {"tensorrt": "tensorrt", "onnxruntime": "onnxruntime"}.get(backend, "torch")
    v = versions.get(lib, "")
    return f"{lib} {'.'.join(v.split('.')[:2])}"
