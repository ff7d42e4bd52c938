"""``Family``: the model family LACS grows from one base model, and how it is saved."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from accelsearch.arch import Arch


@dataclass
class GridPoint:
    """One (α, β, γ) of the grid, scaled to the first target and scored."""

    alpha: float
    beta: float
    gamma: float
    phi: float | None = None
    latency_ms: float | None = None
    accuracy: float | None = None
    reward: float | None = None
    n_measurements: int = 0
    error: str | None = None


@dataclass
class FamilyMember:
    name: str
    arch: Arch
    target_ms: float
    alpha: float
    beta: float
    gamma: float
    phi: float
    latency_ms: float
    latency_error: float  # measured / target − 1
    within_tolerance: bool
    accuracy: float | None = None
    reward: float | None = None
    params_m: float | None = None
    gflops: float | None = None
    gmacs: float | None = None
    n_measurements: int = 0
    latency: dict[str, Any] = field(default_factory=dict)  # the LatencyResult, as a dict

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch"] = self.arch.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FamilyMember:
        d = dict(d)
        d["arch"] = Arch.from_dict(d["arch"])
        return cls(**d)


@dataclass
class Family:
    name: str
    base: Arch
    base_latency_ms: float
    members: list[FamilyMember]
    alpha: float
    beta: float
    gamma: float
    grid: list[GridPoint] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    wall_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "base": self.base.to_dict(),
            "base_latency_ms": self.base_latency_ms,
            "alpha": self.alpha,
            "beta": self.beta,
            "gamma": self.gamma,
            "members": [m.to_dict() for m in self.members],
            "grid": [asdict(g) for g in self.grid],
            "settings": self.settings,
            "mlflow_run_id": self.mlflow_run_id,
            "wall_s": self.wall_s,
        }

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, default=str))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Family:
        d = dict(d)
        d["base"] = Arch.from_dict(d["base"])
        d["members"] = [FamilyMember.from_dict(m) for m in d["members"]]
        d["grid"] = [GridPoint(**g) for g in d.get("grid", [])]
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> Family:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def export_onnx(
        self, folder: str | Path, num_classes: int = 1000, opset: int = 17
    ) -> list[Path]:
        """One ONNX file per member (static batch 1), e.g. for TensorRT."""
        import torch

        from accelsearch.builder import build_model

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for m in self.members:
            model = build_model(m.arch, num_classes=num_classes).eval()
            x = torch.randn(1, m.arch.in_chans, m.arch.resolution, m.arch.resolution)
            path = folder / f"{m.name}.onnx"
            torch.onnx.export(
                model,
                (x,),
                str(path),
                opset_version=opset,
                dynamo=False,
                input_names=["input"],
                output_names=["logits"],
            )
            paths.append(path)
        return paths
