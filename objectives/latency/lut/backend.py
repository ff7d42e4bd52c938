"""``backend="lut"``: the lookup table as a latency backend."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from torch import nn

from accelsearch.core.arch import Arch
from accelsearch.core.errors import MeasurementError
from accelsearch.objectives.latency.backends import register_backend
from accelsearch.objectives.latency.base import InputShape, LatencyBackend, base_versions
from accelsearch.objectives.latency.lut.fill import FillReport
from accelsearch.objectives.latency.lut.predictor import LUTPredictor
from accelsearch.objectives.latency.protocol import Stats


@register_backend("lut")
class LUTBackend(LatencyBackend):
    """``backend="lut"``: latency predicted from the lookup table (GPUNet's method).

    The result's ``mode`` is ``lut`` or ``lut+correction``; ``n`` is the number of layers
    summed; ``cv`` is 0 (a prediction, not a sample); ``extra`` holds the plain sum, the
    correction and how many layers had to be measured. Missing layers are measured on the
    backend's device with ``measure_backend`` (default ``torch``). Results are not put in
    the latency cache (a table or correction may change); the table is its own cache.

    Options: ``store`` (LUT file), ``measure_backend``, ``layer_options`` (options of the
    measuring backend), ``fill``, ``space`` (name: fast path and correction scope),
    ``correction`` (default True), ``layer_protocol``, ``device_name``, ``parallel``,
    ``threads`` (CPU threads of the measuring backend, as recipes pass them).
    """

    name = "lut"
    # the measuring backend checks the precision; on a CPU any precision is allowed so
    # that a table filled on a GPU can be read there (option device_name)
    precisions = {"cpu": ("fp32", "fp16", "bf16", "int8"), "cuda": ("fp32", "fp16", "bf16", "int8")}
    option_names = (
        "store",
        "measure_backend",
        "layer_options",
        "fill",
        "space",
        "correction",
        "layer_protocol",
        "device_name",
        "parallel",
        "threads",
    )
    uses_device_lock = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["cache"] = False
        super().__init__(*args, **kwargs)
        self._predictors: dict[tuple[int, int], LUTPredictor] = {}

    def predictor(self, batch_size: int, num_classes: int = 1000) -> LUTPredictor:
        key = (batch_size, num_classes)
        if key not in self._predictors:
            o = self.options
            self._predictors[key] = LUTPredictor(
                batch_size=batch_size,
                precision=self.precision,
                device=self.device,
                backend=o.get("measure_backend", "torch"),
                store=o.get("store"),
                space=o.get("space"),
                fill=o.get("fill", "measure"),
                device_name=o.get("device_name"),
                options=self._layer_options(),
                protocol=o.get("layer_protocol"),
                num_classes=num_classes,
                correction=o.get("correction", True),
                parallel=o.get("parallel", True),
            )
        return self._predictors[key]

    def _layer_options(self) -> dict[str, Any]:
        opts = dict(self.options.get("layer_options") or {})
        if self.options.get("threads") and self.device == "cpu":
            opts.setdefault("threads", self.options["threads"])
        return opts

    @property
    def device_name(self) -> str:
        given = self.options.get("device_name")
        return given if given else super().device_name

    def _prepare(self, model_or_arch: nn.Module | Arch, num_classes: int) -> tuple[Arch, int]:
        if isinstance(model_or_arch, Arch):
            return model_or_arch, num_classes
        arch = getattr(model_or_arch, "arch", None)
        if isinstance(arch, Arch):
            return arch, int(getattr(model_or_arch, "num_classes", num_classes))
        raise MeasurementError(
            f"the lut backend predicts from an Arch (or a module built from one); got a "
            f"{type(model_or_arch).__name__}: measure it with backend='torch' instead"
        )

    def _measure_impl(
        self, model: tuple[Arch, int], input_shape: InputShape
    ) -> tuple[Stats, float, str, dict[str, Any]]:
        batch, chans, res, _ = input_shape
        arch, num_classes = model
        if (res, chans) != (arch.resolution, arch.in_chans):
            arch = arch.replace(resolution=res, in_chans=chans)
        p = self.predictor(batch, num_classes)
        raw, n = p.layer_sum(arch)
        ms = p.predict(arch)
        report = p.last_fill
        p.last_fill = FillReport()
        stats = Stats(ms, ms, ms, ms, 0.0, n, 0.0)
        corrected = p.use_correction and p.correction is not None
        extra = {
            "raw_ms": raw,
            "layers": n,
            "measured_layers": report.measured,
            "estimated_layers": report.estimated,
            "table": asdict(p.table_id),
            "correction": asdict(p.correction) if corrected else None,
            "predicted": True,
        }
        return stats, report.seconds, "lut+correction" if corrected else "lut", extra

    def versions(self) -> dict[str, str]:
        return base_versions()

    def close(self) -> None:
        for p in self._predictors.values():
            p.close()
        self._predictors.clear()
        super().close()
