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
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError

if TYPE_CHECKING:
    from accelsearch.objectives.latency.result import LatencyResult


@dataclass(frozen=True)
class MeasuredLatency:
    """One measured latency as scaling keeps it: ``ms``, and the backend's ``result`` when
    the latency function returned a :class:`LatencyResult` (None when it returned a number).

    Latency functions may return either; :meth:`of` turns both into this one type where
    they come in (:meth:`Evaluations.latency`), so nothing further on asks which it was."""

    ms: float
    result: LatencyResult | None = None

    @classmethod
    def of(cls, value: Any, arch: Arch) -> MeasuredLatency:
        """What a latency function returned for ``arch``: milliseconds or a LatencyResult."""
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            measured = cls(float(value))
        elif isinstance(getattr(value, "median_ms", None), numbers.Real):
            measured = cls(float(value.median_ms), value)
        else:
            raise ConfigError(
                f"the latency function returned {value!r} for {arch}; it must return "
                "milliseconds (a number) or a LatencyResult"
            )
        if not measured.ms > 0:
            raise ConfigError(
                f"the latency function returned {measured.ms!r} ms for {arch}; it must be > 0"
            )
        return measured

    def to_dict(self) -> dict[str, Any]:
        """The LatencyResult as a dict, or ``{"median_ms": ms}`` for a bare number."""
        return self.result.to_dict() if self.result is not None else {"median_ms": self.ms}


class Evaluations:
    """``latency(arch)`` -> (ms, result, fresh) and ``accuracy(arch)`` -> %, cached by arch;
    ``measured(arch)`` -> the :class:`MeasuredLatency` of an arch measured before."""

    def __init__(
        self,
        latency: Callable[[Arch], Any] | None = None,
        accuracy: Callable[[Arch], float] | None = None,
        path: str | Path | None = None,
    ) -> None:
        self.latency_fn = latency
        self.accuracy_fn = accuracy
        self.path = Path(path) if path else None
        self._latency: dict[str, MeasuredLatency] = {}
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
    def latency(self, arch: Arch) -> tuple[float, LatencyResult | None, bool]:
        """(ms, result, fresh) for ``arch``; ``result`` is the LatencyResult (None when the
        latency function gave a number); ``fresh`` is False when it came from the cache."""
        key = arch.hash()
        if key in self._latency:
            measured = self._latency[key]
            fresh = key in self._replay_latency  # measured before a stop: counts as it did then
            if fresh:
                self._replay_latency.discard(key)
                self.measurements += 1
            return measured.ms, measured.result, fresh
        if self.latency_fn is None:
            raise ConfigError("LACS needs a latency function to measure archs (latency=...)")
        t0 = time.perf_counter()
        value = self.latency_fn(arch)
        self.latency_s += time.perf_counter() - t0
        measured = MeasuredLatency.of(value, arch)
        self._latency[key] = measured
        self.measurements += 1
        self._save()
        return measured.ms, measured.result, True

    def measure(self, arch: Arch) -> tuple[float, bool]:
        """(ms, fresh): the form the φ solver takes."""
        ms, _, fresh = self.latency(arch)
        return ms, fresh

    def measured(self, arch: Arch) -> MeasuredLatency:
        """The latency of an arch measured before (a KeyError otherwise)."""
        return self._latency[arch.hash()]

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

    def forget_unscored(self) -> int:
        """Drop the NaN accuracies loaded from a checkpoint, so those archs are asked again.

        Called after loading when the accuracy function answers NaN for "not scored yet"
        (a proxy trained later in a batch, cut before it finished); returns how many."""
        return self.forget_accuracies(lambda key, accuracy: accuracy != accuracy)

    def forget_accuracies(self, stale: Callable[[str, float], bool]) -> int:
        """Drop the accuracies for which ``stale(arch_hash, accuracy)`` holds, so those archs
        are asked again; returns how many.

        Called after loading a checkpoint whose scores no longer answer this run's question
        (for example a mean over fewer proxy seeds than the run now asks for)."""
        keys = [k for k, v in self._accuracy.items() if stale(k, v)]
        for key in keys:
            del self._accuracy[key]
            if key in self._replay_accuracy:
                self._replay_accuracy.discard(key)
                self.restored = (self.restored[0], self.restored[1] - 1)
        return len(keys)

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
                k: {"ms": m.ms, "result": m.result.to_dict() if m.result is not None else None}
                for k, m in self._latency.items()
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
                # heavy: importing the latency package loads torch and every backend, which
                # `import accelsearch.scaling` does not need; only a checkpoint with results does
                from accelsearch.objectives.latency.result import LatencyResult

                res = LatencyResult.from_dict(res)
            self._latency[k] = MeasuredLatency(float(v["ms"]), res)
        self._accuracy.update({k: float(v) for k, v in data.get("accuracy", {}).items()})
        self._replay_latency = set(self._latency)
        self._replay_accuracy = set(self._accuracy)
        self.restored = (len(self._latency), len(self._accuracy))
