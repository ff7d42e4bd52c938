"""``LatencyResult``: one measurement, honest about what produced it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LatencyResult:
    """Latency of one forward pass of a batch, with the conditions that produced it.

    ``median_ms`` is the number to use; ``p10_ms``/``p90_ms``, ``cv`` (coefficient of
    variation of the trimmed samples) and ``drift`` (how far the last third of the samples
    moved from the first) say how steady it was. A measurement that looked busy was timed
    again (``attempts``); ``noisy`` is set when the steadier attempt still exceeded the
    protocol's ``noisy_cv`` or ``noisy_drift``, and ``noisy_reason`` says which. ``backend`` is the backend that ran (``requested_backend``
    says what was asked for, e.g. ``"auto"``); ``mode`` says how it ran (CUDA graphs, the
    ONNX Runtime provider, the TensorRT precision flags); ``cached`` is true when the result
    came from the latency cache instead of the device. ``model_hash`` names the structure
    that was timed (the arch hash for an ``Arch``); ``build_s`` is the time spent building
    (export, engine build, compile, graph capture) and ``wall_s`` the whole call.
    """

    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    cv: float
    n: int
    backend: str
    device: str
    device_name: str
    precision: str
    batch_size: int
    resolution: int
    mode: str = ""  # how the backend ran it: "eager", "cuda_graph", "compile+cuda_graph", ...
    versions: dict[str, str] = field(default_factory=dict)
    build_s: float = 0.0
    wall_s: float = 0.0
    noisy: bool = False
    noisy_reason: str = ""
    drift: float = 0.0
    attempts: int = 1
    ci_rel: float = 0.0
    cached: bool = False
    requested_backend: str = ""
    model_hash: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        """Images per second at this batch size."""
        return self.batch_size / (self.median_ms / 1000.0)

    def describe(self) -> str:
        return (
            f"{self.median_ms:.3f} ms (p10 {self.p10_ms:.3f}, p90 {self.p90_ms:.3f}, cv "
            f"{self.cv:.3f}, n={self.n}) on {self.device_name} [{self.backend}"
            + (f"/{self.mode}" if self.mode else "")
            + ", "
            f"{self.precision}, batch {self.batch_size}, {self.resolution}px]"
            + (f" NOISY ({self.noisy_reason}, {self.attempts} attempts)" if self.noisy else "")
            + (" (cached)" if self.cached else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyResult:
        """Inverse of :meth:`to_dict`; fields unknown to this version are dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @classmethod
    def from_json(cls, text: str) -> LatencyResult:
        return cls.from_dict(json.loads(text))

    def replace(self, **changes: Any) -> LatencyResult:
        return dataclasses.replace(self, **changes)
