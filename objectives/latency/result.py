"""``LatencyResult``: one measurement, honest about what produced it."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LatencyResult:
    """Latency of one forward pass of a batch, with the conditions that produced it.

    ``median_ms`` is the number to use; ``p10_ms``/``p90_ms`` and ``cv`` (coefficient of
    variation of the trimmed samples) say how steady it was; ``noisy`` is set when ``cv``
    exceeded the backend's threshold.
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
    ci_rel: float = 0.0
    cached: bool = False
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
            + (" NOISY" if self.noisy else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencyResult:
        return cls(**data)
