"""An ``Arch`` as a list of layers, the unit of the latency lookup table (GPUNet §3.2).

A *layer* here is one block as the builder makes it (a timm ``InvertedResidual``, an
``EdgeResidual``, a conv-BN-act, ...) or the head (1×1 conv, pool, classifier). A stage of
depth d is its first block (with the stage's stride and ``nominal_in``) plus d − 1 copies of
the stride-1 block whose input is the stage's width: the ``Arch`` conventions make that
exact. Block types registered as fixed-depth (``s2d``, reduction cells) are one layer for the
whole stage.

:class:`LayerKey` holds everything that decides a layer's latency besides batch, precision,
backend and device: its block fields, input channels and input size. ``key.text`` is its
stable text form (the lookup table's key). :func:`layer_module` builds the layer alone (for
timing it); :func:`layer_cost` gives its per-image multiply-adds, weights and activations
(analytically for the built-in block types, by a forward pass on the meta device for others).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

import torch
from torch import nn

from accelsearch.core.accounting import count_forward
from accelsearch.core.arch import Arch, Stage
from accelsearch.core.builder import (
    BLOCKS,
    FIXED_DEPTH_TYPES,
    BuildContext,
    act_layer,
    expanded_width,
    se_width,
)
from accelsearch.core.errors import ArchError
from accelsearch.spaces.constraints import CHAIN_RULES, ChainState

HEAD = "head"


@dataclass(frozen=True)
class LayerKey:
    """One layer of a network: block type and fields, input channels and input size."""

    kind: str  # stage type ("conv", "mbconv", "fused", "s2d", ...) or "head"
    in_chs: int
    size: int  # input height = width
    width: int  # output channels of the block; head: conv width (0 = no conv)
    kernel: int = 1
    stride: int = 1
    expansion: float = 1.0
    se: float = 0.0
    act: str = "relu"
    nominal_in: int = 0
    ops: tuple[str, ...] = ()
    depth: int = 1  # > 1 only for fixed-depth types (the whole stage is one layer)
    num_classes: int = 0  # head only

    @cached_property
    def text(self) -> str:
        """Stable text form, the table key (e.g. ``mbconv|40>80|h28|k5|s2|e6|se0.25|relu``)."""
        parts = [self.kind, f"{self.in_chs}>{self.width}", f"h{self.size}"]
        if self.kind == HEAD:
            parts += [self.act, f"nc{self.num_classes}"]
            return "|".join(parts)
        parts += [f"k{self.kernel}", f"s{self.stride}", f"e{_num(self.expansion)}"]
        parts += [f"se{_num(self.se)}", self.act]
        if self.nominal_in:
            parts.append(f"n{self.nominal_in}")
        if self.depth != 1:
            parts.append(f"d{self.depth}")
        if self.ops:
            parts.append("o[" + ",".join(self.ops) + "]")
        return "|".join(parts)

    def stage(self) -> Stage:
        """The one-block (or fixed-depth) stage that builds this layer."""
        return Stage(
            self.kind,
            width=self.width,
            depth=self.depth,
            kernel=self.kernel,
            stride=self.stride,
            expansion=self.expansion,
            se=self.se,
            act=self.act,
            nominal_in=self.nominal_in,
            ops=self.ops,
        )

    @property
    def out_size(self) -> int:
        if self.kind == HEAD:
            return 1
        return stage_output(self.stage(), self.in_chs, self.size)[1]


@dataclass(frozen=True)
class LayerEntry:
    """A layer of a particular network: its key, where it sits and the module path of the
    modules it stands for (``stem.0``, ``stages.2.1``, ``head``)."""

    key: LayerKey
    name: str
    stage: int  # -1 stem, 0.. stages, len(stages) head
    block: int


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def out_size(size: int, kind: str, kernel: int, stride: int) -> int:
    """Output size of a block: TF "same" (``ceil(size / stride)``) for odd kernels and even
    depthwise kernels; no padding for an n×n stride-n conv (space-to-depth)."""
    if kernel == stride and kernel % 2 == 0:
        return (size - kernel) // stride + 1
    return math.ceil(size / stride)


def _fixed_depth(kind: str) -> bool:
    return kind in FIXED_DEPTH_TYPES


def stage_output(stage: Stage, in_chs: int, size: int) -> tuple[int, int]:
    """(channels, size) after ``stage``, by the block type's chain rule (the spaces' own
    shape bookkeeping, :mod:`accelsearch.spaces.constraints`)."""
    if stage.depth == 0:
        return in_chs, size
    if stage.type in CHAIN_RULES:
        return CHAIN_RULES.get(stage.type)(stage, ChainState(in_chs, size, None, False))
    return stage.width, out_size(size, stage.type, stage.kernel, stage.stride)


def stage_layers(stage: Stage, in_chs: int, size: int) -> tuple[list[LayerKey], int, int]:
    """The layers of one stage given its input; returns (keys, out channels, out size)."""
    common = dict(
        kind=stage.type,
        width=stage.width,
        kernel=stage.kernel,
        expansion=stage.expansion,
        se=stage.se,
        act=stage.act,
        ops=stage.ops,
    )
    if stage.depth == 0:
        return [], in_chs, size
    out_chs, out = stage_output(stage, in_chs, size)
    if _fixed_depth(stage.type):
        key = LayerKey(
            in_chs=in_chs,
            size=size,
            stride=stage.stride,
            nominal_in=stage.nominal_in,
            depth=stage.depth,
            **common,
        )
        return [key], out_chs, out
    first = LayerKey(
        in_chs=in_chs, size=size, stride=stage.stride, nominal_in=stage.nominal_in, **common
    )
    keys = [first]
    if stage.depth > 1:
        rep = LayerKey(in_chs=stage.width, size=out, stride=1, **common)
        keys += [rep] * (stage.depth - 1)
    return keys, out_chs, out


def stage_layers_of(arch: Arch, index: int) -> list[LayerKey]:
    """The layers of ``arch.stages[index]`` only (-1: the stem), without keys for the rest."""
    chs, size = arch.in_chans, arch.resolution
    stages = ([arch.stem] if arch.stem is not None else []) + list(arch.stages)
    target = index + (1 if arch.stem is not None else 0)
    for i, stage in enumerate(stages):
        if i == target:
            return stage_layers(stage, chs, size)[0]
        chs, size = stage_output(stage, chs, size)
    raise ArchError(f"arch has no stage {index}")


def arch_layers(arch: Arch, num_classes: int = 1000) -> list[LayerEntry]:
    """Every layer of ``arch`` in order (stem blocks, stage blocks, head)."""
    entries: list[LayerEntry] = []
    chs, size = arch.in_chans, arch.resolution
    groups = ([(-1, "stem", arch.stem)] if arch.stem is not None else []) + [
        (i, f"stages.{i}", st) for i, st in enumerate(arch.stages)
    ]
    for index, prefix, stage in groups:
        keys, chs, size = stage_layers(stage, chs, size)
        fixed = _fixed_depth(stage.type)
        for j, key in enumerate(keys):
            entries.append(LayerEntry(key, prefix if fixed else f"{prefix}.{j}", index, j))
    head = arch.head
    width = head.width if head is not None else 0
    act = head.act if head is not None else "none"
    key = LayerKey(HEAD, in_chs=chs, size=size, width=width, act=act, num_classes=num_classes)
    entries.append(LayerEntry(key, HEAD, len(arch.stages), 0))
    return entries


def layer_module(key: LayerKey) -> nn.Module:
    """The layer alone, built by the same builder as the whole network (random weights)."""
    if key.kind == HEAD:
        from timm.layers import SelectAdaptivePool2d
        from timm.models._efficientnet_blocks import ConvBnAct

        mods: list[nn.Module] = []
        chs = key.in_chs
        if key.width > 0:
            mods.append(ConvBnAct(chs, key.width, 1, act_layer=act_layer(key.act)))
            chs = key.width
        mods.append(SelectAdaptivePool2d(pool_type="avg", flatten=True))
        if key.num_classes > 0:
            mods.append(nn.Linear(chs, key.num_classes))
        return nn.Sequential(*mods)
    try:
        mods, _ = BLOCKS.get(key.kind)(key.stage(), key.in_chs, BuildContext(resolution=key.size))
    except ArchError as exc:
        raise ArchError(f"layer {key.text}: {exc}") from None
    return nn.Sequential(*mods)


@dataclass(frozen=True)
class LayerCost:
    """Per-image work and data of a layer: multiply-adds, weights, input and output
    activation elements (multiply by batch size and bytes per element for traffic)."""

    macs: int
    params: int
    in_elems: int
    out_elems: int


def layer_cost(key: LayerKey) -> LayerCost:
    """Analytic cost for the built-in block types (conv, s2d, mbconv, fused, head), a
    forward pass on the meta device with PyTorch's flop counter for any other type."""
    fn = _ANALYTIC.get(key.kind)
    if fn is not None:
        return fn(key)
    return _counted_cost(key)


def _conv(cin: int, cout: int, k: int, size_out: int, groups: int = 1, bias: bool = False):
    macs = cout * (cin // groups) * k * k * size_out * size_out
    params = cout * (cin // groups) * k * k + (cout if bias else 0)
    return macs, params


def _se(chs: int, rd: int) -> tuple[int, int]:
    return 2 * chs * rd, 2 * chs * rd + chs + rd


def _cost_conv(key: LayerKey) -> LayerCost:
    so = key.out_size
    macs, params = _conv(key.in_chs, key.width, key.kernel, so)
    params += 2 * key.width  # BN
    return LayerCost(macs, params, key.in_chs * key.size**2, key.width * so * so)


def _cost_mbconv(key: LayerKey) -> LayerCost:
    nominal = key.nominal_in or key.in_chs
    si, so = key.size, key.out_size
    macs = params = 0
    if key.expansion == 1.0:
        mid = key.in_chs
    else:
        mid = expanded_width(nominal, key.expansion)
        m, p = _conv(key.in_chs, mid, 1, si)
        macs, params = macs + m, params + p + 2 * mid
    m, p = _conv(mid, mid, key.kernel, so, groups=mid)
    macs, params = macs + m, params + p + 2 * mid
    if key.se > 0:
        m, p = _se(mid, se_width(nominal, key.se))
        macs, params = macs + m, params + p
    m, p = _conv(mid, key.width, 1, so)
    macs, params = macs + m, params + p + 2 * key.width
    return LayerCost(macs, params, key.in_chs * si * si, key.width * so * so)


def _cost_fused(key: LayerKey) -> LayerCost:
    nominal = key.nominal_in or key.in_chs
    si, so = key.size, key.out_size
    mid = expanded_width(nominal, key.expansion)
    macs, params = _conv(key.in_chs, mid, key.kernel, so)
    params += 2 * mid
    if key.se > 0:
        m, p = _se(mid, se_width(nominal, key.se))
        macs, params = macs + m, params + p
    m, p = _conv(mid, key.width, 1, so)
    macs, params = macs + m, params + p + 2 * key.width
    return LayerCost(macs, params, key.in_chs * si * si, key.width * so * so)


def _cost_head(key: LayerKey) -> LayerCost:
    macs = params = 0
    chs = key.in_chs
    if key.width > 0:
        m, p = _conv(chs, key.width, 1, key.size)
        macs, params, chs = m, p + 2 * key.width, key.width
    if key.num_classes > 0:
        macs += chs * key.num_classes
        params += chs * key.num_classes + key.num_classes
    return LayerCost(macs, params, key.in_chs * key.size**2, max(key.num_classes, chs))


_ANALYTIC = {
    "conv": _cost_conv,
    "s2d": _cost_conv,
    "mbconv": _cost_mbconv,
    "fused": _cost_fused,
    HEAD: _cost_head,
}


def _counted_cost(key: LayerKey) -> LayerCost:
    with torch.device("meta"):
        module = layer_module(key).eval()
    x = torch.empty(1, key.in_chs, key.size, key.size, device="meta")
    counter, y = count_forward(module, x)
    params = sum(p.numel() for p in module.parameters())
    return LayerCost(int(counter.get_total_flops() // 2), params, x.numel(), int(y.numel()))
