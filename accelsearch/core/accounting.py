"""Parameters and multiply-adds of a model, counted with ``torch.utils.flop_counter``."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from accelsearch.core.arch import Arch, Stage
from accelsearch.core.block_costs import BlockCost
from accelsearch.core.blocks import BLOCKS, stage_output
from accelsearch.core.builder import build_block, build_model


@dataclass(frozen=True)
class ModelCost:
    params: int
    macs: int  # multiply-adds for one image (FLOPs = 2 × MACs)

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def gflops(self) -> float:
        return 2 * self.macs / 1e9


def count_forward(model: nn.Module, x: torch.Tensor) -> tuple[FlopCounterMode, Any]:
    """Run ``model(x)`` once, without gradients, under ``torch.utils.flop_counter``: the one
    place FLOPs are counted (totals, per module, per layer). Returns (counter, output)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = model(x)
    return counter, out


def model_cost(model: nn.Module, resolution: int, in_chans: int = 3) -> ModelCost:
    """Parameters and per-image multiply-adds of ``model`` at ``resolution``."""
    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    x = torch.zeros(
        1,
        in_chans,
        resolution,
        resolution,
        device=next(model.parameters()).device if params else "cpu",
    )
    counter, _ = count_forward(model, x)
    model.train(was_training)
    return ModelCost(params=params, macs=int(counter.get_total_flops() // 2))


def arch_cost(arch: Arch, num_classes: int = 1000) -> ModelCost:
    return model_cost(build_model(arch, num_classes=num_classes), arch.resolution, arch.in_chans)


def block_cost(block: Stage, in_chs: int, size: int) -> BlockCost:
    """Per-image cost of one block (a one-block stage, or the whole stage of a fixed-depth
    type) by its description: the block type's analytic rule, or, for a type without one,
    counted from the built block (:func:`counted_block_cost`)."""
    rule = BLOCKS.get(block.type).cost
    if rule is None:
        return counted_block_cost(block, in_chs, size)
    return rule(block, in_chs, size, stage_output(block, in_chs, size)[1])


def counted_block_cost(block: Stage, in_chs: int, size: int) -> BlockCost:
    """The block built on the meta device (no memory, no compute) and counted by
    :func:`count_forward`; the judge of every analytic rule."""
    with torch.device("meta"):
        module = build_block(block, in_chs, size).eval()
    x = torch.empty(1, in_chs, size, size, device="meta")
    counter, y = count_forward(module, x)
    params = sum(p.numel() for p in module.parameters())
    return BlockCost(int(counter.get_total_flops() // 2), params, x.numel(), int(y.numel()))


def count_flops(arch: Arch, build: Callable[..., Any] | None = None) -> dict[str, int]:
    """FLOPs (2 × multiply-adds) per module for one image, counted on the meta device
    (no real compute; on the CPU for an op without a meta kernel). ``"Global"`` is the total,
    ``"__model__"`` the model's class name (the prefix of the module paths)."""
    build = build or build_model

    def run(meta: bool):
        with torch.device("meta") if meta else contextlib.nullcontext():
            model = build(arch, num_classes=1000).eval()
            x = torch.zeros(1, arch.in_chans, arch.resolution, arch.resolution)
        return model, count_forward(model, x)[0]

    try:
        model, counter = run(meta=True)
    except (NotImplementedError, RuntimeError):  # an op without a meta kernel: count on CPU
        model, counter = run(meta=False)
    counts = {k: int(sum(v.values())) for k, v in counter.get_flop_counts().items()}
    counts["__model__"] = type(model).__name__  # type: ignore[assignment]
    return counts


# -- per-layer statistics for the roofline -------------------------------------------------
BYTES_PER_ELEMENT = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1}
_HEAD_MODULES = ("conv_head", "global_pool", "classifier", "head", "fc")


@dataclass(frozen=True)
class LayerStats:
    """One layer's work and memory traffic for a whole batch.

    ``kind`` is "conv", "dwconv" (depthwise), "linear", "pool" or "se_scale" (the
    squeeze-excite product); ``group`` is the block it belongs to (``stem.0``,
    ``stages.2.1``, ``head`` for an accelsearch model; the first two module-path components
    otherwise). Batch norms and activations are fused into the producing conv, so they add
    neither work nor traffic; residual additions are assumed fused into the conv that
    produces their output.
    """

    name: str
    group: str
    kind: str
    macs: int
    weight_bytes: int
    in_bytes: int
    out_bytes: int

    @property
    def flops(self) -> int:
        return 2 * self.macs

    @property
    def traffic_bytes(self) -> int:
        """Q: weights + input activations + output activations."""
        return self.weight_bytes + self.in_bytes + self.out_bytes

    @property
    def intensity(self) -> float:
        """I = W / Q in FLOP per byte."""
        return self.flops / self.traffic_bytes if self.traffic_bytes else 0.0


@dataclass(frozen=True)
class ArchStats:
    """Parameters, multiply-adds and per-layer traffic at a batch size and precision."""

    params: int
    macs: int  # per image (as ModelCost.macs)
    batch_size: int
    precision: str
    resolution: int
    layers: tuple[LayerStats, ...]

    @property
    def bytes_per_element(self) -> int:
        return BYTES_PER_ELEMENT[self.precision]

    @property
    def cost(self) -> ModelCost:
        return ModelCost(self.params, self.macs)

    @property
    def flops(self) -> int:
        """W for the whole batch (2 × multiply-adds of the counted layers)."""
        return sum(layer.flops for layer in self.layers)

    @property
    def weight_bytes(self) -> int:
        return sum(layer.weight_bytes for layer in self.layers)

    @property
    def activation_bytes(self) -> int:
        return sum(layer.in_bytes + layer.out_bytes for layer in self.layers)

    @property
    def traffic_bytes(self) -> int:
        """Q for the whole batch: every layer's weights, input and output once."""
        return sum(layer.traffic_bytes for layer in self.layers)

    @property
    def intensity(self) -> float:
        return self.flops / self.traffic_bytes if self.traffic_bytes else 0.0

    def groups(self) -> dict[str, LayerStats]:
        """Layers summed per block (the LUT's unit), in network order."""
        out: dict[str, list[LayerStats]] = {}
        for layer in self.layers:
            out.setdefault(layer.group, []).append(layer)
        return {
            g: LayerStats(
                g,
                g,
                "block",
                sum(x.macs for x in ls),
                sum(x.weight_bytes for x in ls),
                sum(x.in_bytes for x in ls),
                sum(x.out_bytes for x in ls),
            )
            for g, ls in out.items()
        }


def _group_of(name: str, archnet: bool) -> str:
    parts = name.split(".")
    if archnet:
        if parts[0] in _HEAD_MODULES:
            return "head"
        if parts[0] == "stem":
            return ".".join(parts[:2])
        if parts[0] == "stages":
            return ".".join(parts[:3])
    return ".".join(parts[:2])


def _se_types() -> tuple[type, ...]:
    types: list[type] = []
    try:
        from timm.models._efficientnet_blocks import SqueezeExcite

        types.append(SqueezeExcite)
    except ImportError:  # pragma: no cover - timm layout changed
        pass
    try:
        from timm.layers import EffectiveSEModule, SEModule

        types += [SEModule, EffectiveSEModule]
    except ImportError:  # pragma: no cover
        pass
    return tuple(types)


def _layer_kind(mod: nn.Module, se_types: tuple[type, ...]) -> str | None:
    """What the roofline calls ``mod`` (None: not a layer it counts)."""
    if isinstance(mod, nn.Conv2d):
        dw = mod.groups > 1 and mod.groups == mod.in_channels
        return "dwconv" if dw else "conv"
    if isinstance(mod, nn.Linear):
        return "linear"
    if isinstance(mod, (nn.AdaptiveAvgPool2d, nn.AvgPool2d, nn.MaxPool2d)):
        return "pool"
    if se_types and isinstance(mod, se_types):
        return "se_scale"
    return None


def _shape_hooks(model: nn.Module, records: list) -> list:
    """Forward hooks appending (name, kind, module, input elements, output elements) to
    ``records`` for every layer the roofline counts; returns the handles to remove."""
    se_types = _se_types()

    def hook_for(name: str, kind: str):
        def hook(mod, inputs, output):
            x = inputs[0] if inputs else None
            in_el = x.numel() if isinstance(x, torch.Tensor) else 0
            out_el = output.numel() if isinstance(output, torch.Tensor) else 0
            records.append((name, kind, mod, in_el, out_el))

        return hook

    hooks = []
    for name, mod in model.named_modules():
        kind = _layer_kind(mod, se_types)
        if kind is not None:
            hooks.append(mod.register_forward_hook(hook_for(name, kind)))
    return hooks


def model_stats(
    model: nn.Module,
    resolution: int,
    batch_size: int = 1,
    precision: str = "fp16",
    in_chans: int = 3,
) -> ArchStats:
    """Per-layer work and traffic of ``model`` (one forward at batch 1 on the CPU, scaled).

    Multiply-adds come from ``torch.utils.flop_counter`` per module (so the totals equal
    :func:`model_cost`); shapes from forward hooks on convolutions, linear layers, pooling
    and squeeze-excite modules.
    """
    if precision not in BYTES_PER_ELEMENT:
        raise ValueError(
            f"unknown precision {precision!r}; valid choices: {sorted(BYTES_PER_ELEMENT)}"
        )
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    bpe = BYTES_PER_ELEMENT[precision]
    archnet = type(model).__name__ == "ArchNet"
    records: list[tuple[str, str, nn.Module, int, int]] = []
    hooks = _shape_hooks(model, records)
    was_training = model.training
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    dtype = first.dtype if first is not None and first.is_floating_point() else torch.float32
    x = torch.randn(1, in_chans, resolution, resolution, device=device, dtype=dtype)
    try:
        counter, _ = count_forward(model, x)
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)
    per_module = counter.get_flop_counts()
    root = type(model).__name__
    layers = []
    total_flops = int(counter.get_total_flops())
    for name, kind, mod, in_el, out_el in records:
        flops = sum(per_module.get(f"{root}.{name}", {}).values()) if kind != "se_scale" else 0
        weights = 0
        if kind in ("conv", "dwconv", "linear"):
            weights = sum(p.numel() for p in mod.parameters(recurse=False))
        if kind == "se_scale":  # the product reads x and writes x; its convs are hooked too
            out_el = in_el
        layers.append(
            LayerStats(
                name,
                _group_of(name, archnet),
                kind,
                int(flops // 2) * batch_size,
                weights * bpe,
                in_el * batch_size * bpe,
                out_el * batch_size * bpe,
            )
        )
    return ArchStats(
        params=params,
        macs=total_flops // 2,
        batch_size=batch_size,
        precision=precision,
        resolution=resolution,
        layers=tuple(layers),
    )


def arch_stats(
    arch: Arch, batch_size: int = 1, precision: str = "fp16", num_classes: int = 1000
) -> ArchStats:
    """Parameters, multiply-adds and per-layer activation and weight bytes of ``arch`` at a
    batch size and precision (the inputs of :mod:`accelsearch.objectives.roofline`)."""

    model = build_model(arch, num_classes=num_classes)
    return model_stats(model, arch.resolution, batch_size, precision, arch.in_chans)
