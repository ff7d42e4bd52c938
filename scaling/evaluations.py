"""Measured latency and evaluated accuracy, cached by arch, so each arch costs once.

LACS, the EfficientNet comparison and repeated solves share one :class:`Evaluations`: a
triple that lands on an arch measured before (rounding makes that common) costs nothing.
With ``path`` the caches persist as JSON after every new entry, so a run that is stopped
and started again does not repeat its measurements (the JSON records the conditions of
each latency, and a cache is only as valid as the setup that produced it).

That file is also LACS's checkpoint: a LACS run started again with the same settings asks
for the same archs in the same order, and the first use of an entry loaded from the file
counts as the fresh measurement (or evaluation) it was before the stop. The φ solver's
measurement budget, each member's ``n_measurements`` and the family's totals come out as
in a run that was never stopped, and nothing that was done is done again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from accelsearch.arch import Arch
from accelsearch.errors import ConfigError


class Evaluations:
    """``latency(arch)`` -> (ms, result, fresh) and ``accuracy(arch)`` -> %, cached by arch."""

    def __init__(
        self,
        latency: Callable[[Arch], Any] | None = None,
        accuracy: Callable[[Arch], float] | None = None,
        path: str | Path | None = None,
    ) -> None:
        self.latency_fn = latency
        self.accuracy_fn = accuracy
        self.path = Path(path) if path else None
        self._latency: dict[str, tuple[float, Any]] = {}
        self._accuracy: dict[str, float] = {}
        self.measurements = 0  # fresh latency measurements
        self.evaluations = 0  # fresh accuracy evaluations
        self.latency_s = 0.0
        self.accuracy_s = 0.0
        # loaded from the checkpoint, not used yet: the first use counts as fresh
        self._replay_latency: set[str] = set()
        self._replay_accuracy: set[str] = set()
        self.restored = (0, 0)  # (latencies, accuracies) loaded from ``path``
        if self.path is not None and self.path.exists():
            self._load()

    # -- latency ---------------------------------------------------------------------------------
    def latency(self, arch: Arch) -> tuple[float, Any, bool]:
        """(ms, result, fresh) for ``arch``; ``fresh`` is False when it came from the cache."""
        key = arch.hash()
        if key in self._latency:
            ms, res = self._latency[key]
            if key in self._replay_latency:  # measured before a stop: it counts as it did then
                self._replay_latency.discard(key)
                self.measurements += 1
                return ms, res, True
            return ms, res, False
        if self.latency_fn is None:
            raise ConfigError("LACS needs a latency function to measure archs (latency=...)")
        t0 = time.perf_counter()
        res = self.latency_fn(arch)
        self.latency_s += time.perf_counter() - t0
        ms = float(getattr(res, "median_ms", res))
        if not ms > 0:
            raise ConfigError(f"the latency function returned {ms!r} ms for {arch}; it must be > 0")
        self._latency[key] = (ms, res)
        self.measurements += 1
        self._save()
        return ms, res, True

    def measure(self, arch: Arch) -> tuple[float, bool]:
        """(ms, fresh): the form the φ solver takes."""
        ms, _, fresh = self.latency(arch)
        return ms, fresh

    def result(self, arch: Arch) -> Any:
        return self._latency[arch.hash()][1]

    # -- accuracy --------------------------------------------------------------------------------
    def accuracy(self, arch: Arch) -> float:
        key = arch.hash()
        if key in self._replay_accuracy:  # evaluated before a stop
            self._replay_accuracy.discard(key)
            self.evaluations += 1
        elif key not in self._accuracy:
            if self.accuracy_fn is None:
                raise ConfigError("LACS needs an accuracy function to score archs (accuracy=...)")
            t0 = time.perf_counter()
            self._accuracy[key] = float(self.accuracy_fn(arch))
            self.accuracy_s += time.perf_counter() - t0
            self.evaluations += 1
            self._save()
        return self._accuracy[key]

    def known_accuracy(self, arch: Arch) -> float | None:
        return self._accuracy.get(arch.hash())

    def set_accuracy(self, arch: Arch, accuracy: float) -> None:
        """Record an accuracy obtained elsewhere (the search's, for the base model)."""
        self._accuracy[arch.hash()] = float(accuracy)
        self._replay_accuracy.discard(arch.hash())  # not an evaluation of this run

    def stats(self) -> dict[str, Any]:
        return {
            "latency_measurements": self.measurements,
            "accuracy_evaluations": self.evaluations,
            "latency_s": round(self.latency_s, 3),
            "accuracy_s": round(self.accuracy_s, 3),
        }

    # -- persistence -----------------------------------------------------------------------------
    def _save(self) -> None:
        if self.path is None:
            return
        data = {
            "latency": {
                k: {"ms": ms, "result": res.to_dict() if hasattr(res, "to_dict") else None}
                for k, (ms, res) in self._latency.items()
            },
            "accuracy": self._accuracy,
        }
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, default=str))
        tmp.replace(self.path)

    def _load(self) -> None:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"LACS cache {str(self.path)!r} cannot be read ({exc}); delete it to start afresh"
            ) from None
        for k, v in data.get("latency", {}).items():
            res = v.get("result")
            if res is not None:
                from accelsearch.objectives.latency.result import LatencyResult

                res = LatencyResult.from_dict(res)
            self._latency[k] = (float(v["ms"]), res if res is not None else float(v["ms"]))
        self._accuracy.update({k: float(v) for k, v in data.get("accuracy", {}).items()})
        self._replay_latency = set(self._latency)
        self._replay_accuracy = set(self._accuracy)
        self.restored = (len(self._latency), len(self._accuracy))
