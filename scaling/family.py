"""``Family``: the model family LACS grows from one base model, and how it is saved.

A family is its base model (member 0, φ = 0) and one member per latency target, each with
its scaling coefficients, target and *measured* latency, accuracy, reward, size and (when
the roofline is available) arithmetic intensity and GPU utilisation. ``baseline`` holds a
family grown from the same base another way (EfficientNet's accuracy-only coefficients) for
the built-in comparison; :meth:`Family.comparison` lines the two up per target.

Saved as JSON (:meth:`Family.save` / :meth:`Family.load`, exact round trip) and, on request,
as one ONNX file per member (:meth:`Family.export_onnx`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from accelsearch.core.arch import Arch

#: how a family's coefficients were chosen
METHODS = ("lacs", "efficientnet", "fixed")


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
    predicted_phi: float | None = None
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
    latency_ms: float  # measured, never predicted
    latency_error: float  # measured / target − 1
    within_tolerance: bool
    accuracy: float | None = None
    reward: float | None = None
    params_m: float | None = None
    gflops: float | None = None
    gmacs: float | None = None
    intensity: float | None = None  # FLOPs per byte (roofline), when available
    utilisation: float | None = None  # achieved FLOP/s ÷ peak FLOP/s, when available
    n_measurements: int = 0  # latency measurements this member cost
    solve: str = ""  # how φ was found: "base", "converged", "plateau", "budget", "flops"
    latency: dict[str, Any] = field(default_factory=dict)  # the LatencyResult, as a dict

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["arch"] = self.arch.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FamilyMember:
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in d.items() if k in known}
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
    method: str = "lacs"
    baseline: Family | None = None  # the same base grown another way, for comparison

    @classmethod
    def grown(
        cls,
        name: str,
        base: Arch,
        base_latency_ms: float,
        triple: tuple[float, float, float],
        members: list[FamilyMember],
        *,
        method: str,
        settings: dict[str, Any],
        wall_s: float,
        grid: list[GridPoint] | None = None,
    ) -> Family:
        """A family grown from ``base`` with one (α, β, γ): how LACS, its fixed-coefficient
        families and EfficientNet's scaling all assemble their result."""
        alpha, beta, gamma = triple
        return cls(
            name=name,
            base=base,
            base_latency_ms=base_latency_ms,
            members=members,
            alpha=alpha,
            beta=beta,
            gamma=gamma,
            grid=list(grid or []),
            settings=settings,
            wall_s=wall_s,
            method=method,
        )

    @property
    def total_measurements(self) -> int:
        return int(
            self.settings.get("total_measurements", sum(m.n_measurements for m in self.members))
        )

    def member_for(self, target_ms: float) -> FamilyMember | None:
        for m in self.members:
            if m.phi > 0 and abs(m.target_ms - target_ms) <= 1e-9 * max(1.0, target_ms):
                return m
        return None

    def comparison(self) -> list[dict[str, Any]]:
        """Per target: latency, accuracy and reward of this family and of its baseline."""
        if self.baseline is None:
            return []
        rows = []
        for m in self.members:
            if m.phi <= 0:
                continue
            b = self.baseline.member_for(m.target_ms)
            row: dict[str, Any] = {
                "target_ms": m.target_ms,
                f"{self.method}_latency_ms": m.latency_ms,
                f"{self.method}_accuracy": m.accuracy,
                f"{self.method}_reward": m.reward,
                f"{self.method}_coefficients": [m.alpha, m.beta, m.gamma, m.phi],
            }
            other = self.baseline.method
            if b is not None:
                row.update(
                    {
                        f"{other}_latency_ms": b.latency_ms,
                        f"{other}_accuracy": b.accuracy,
                        f"{other}_reward": b.reward,
                        f"{other}_coefficients": [b.alpha, b.beta, b.gamma, b.phi],
                        "accuracy_delta": (
                            m.accuracy - b.accuracy
                            if m.accuracy is not None and b.accuracy is not None
                            else None
                        ),
                        "latency_ratio": b.latency_ms / m.latency_ms,
                    }
                )
            rows.append(row)
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.method,
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
            "baseline": self.baseline.to_dict() if self.baseline is not None else None,
            "comparison": self.comparison(),
        }

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2, default=str))
        return path

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Family:
        d = dict(d)
        d.pop("comparison", None)  # derived
        d["base"] = Arch.from_dict(d["base"])
        d["members"] = [FamilyMember.from_dict(m) for m in d["members"]]
        d["grid"] = [GridPoint(**g) for g in d.get("grid", [])]
        if d.get("baseline") is not None:
            d["baseline"] = Family.from_dict(d["baseline"])
        return cls(**d)

    @classmethod
    def load(cls, path: str | Path) -> Family:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def export_onnx(
        self,
        folder: str | Path,
        num_classes: int = 1000,
        opset: int = 17,
        batch_size: int = 1,
        space: Any = None,
    ) -> list[Path]:
        """One ONNX file per member (static batch ``batch_size``), e.g. for TensorRT.

        ``space`` builds the members when given (its ``build``), else the generic builder.
        """
        import torch

        from accelsearch.core.builder import build_model  # heavy (torch), like the line above

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for m in self.members:
            if space is not None:
                model = space.build(m.arch, num_classes=num_classes)
            else:
                model = build_model(m.arch, num_classes=num_classes)
            model.eval()
            x = torch.randn(batch_size, m.arch.in_chans, m.arch.resolution, m.arch.resolution)
            path = folder / f"{m.name}.onnx"
            with torch.no_grad():
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
