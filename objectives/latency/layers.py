"""An ``Arch`` as a list of layers, the unit of the latency lookup table (GPUNet §3.2).

A *layer* here is one block as the builder makes it (a timm ``InvertedResidual``, an
``EdgeResidual``, a conv-BN-act, ...) or the head (1×1 conv, pool, classifier). A stage of
depth d is its first block (with the stage's stride and ``nominal_in``) plus d − 1 copies of
the stride-1 block whose input is the stage's width: the ``Arch`` conventions make that
exact. Block types described as fixed-depth (``s2d``, reduction cells) are one layer for the
whole stage.

:class:`LayerKey` holds everything that decides a layer's latency besides batch, precision,
backend and device: its block fields, input channels and input size. ``key.text`` is its
stable text form (the lookup table's key). :func:`layer_module` builds the layer alone (for
timing it); :func:`layer_cost` gives its per-image multiply-adds, weights and activations.
Both read the block type's one description (:class:`accelsearch.core.blocks.BlockType`): this
module restates no block's shape rule or cost formula, it turns the description's counts
into the lookup table's units.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property

from torch import nn

from accelsearch.core.accounting import block_cost
from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.block_costs import BlockCost, head_cost
from accelsearch.core.blocks import is_fixed_depth, stage_output
from accelsearch.core.builder import build_block, head_modules
from accelsearch.core.errors import ArchError

HEAD = "head"


@dataclass(frozen=True)
class LayerKey:
    """One layer of a network: a block (a one-block ``Stage``, or the whole stage of a
    fixed-depth type: the block's fields are the ``Stage``'s own) or the head, with its input
    channels and input size."""

    in_chs: int
    size: int  # input height = width
    block: Stage | None = None  # None: the head
    head: Head | None = None  # head keys: its conv width (0 = no conv) and activation
    num_classes: int = 0  # head only

    def __post_init__(self) -> None:
        if (self.block is None) == (self.head is None):
            raise ArchError("a LayerKey is a block or the head: give exactly one of them")

    @classmethod
    def of_head(cls, head: Head | None, in_chs: int, size: int, num_classes: int) -> LayerKey:
        """The head's layer (``None``: no head conv, no activation); dropout is no part of it."""
        conv = Head(width=head.width, act=head.act) if head is not None else Head(0, "none")
        return cls(in_chs, size, head=conv, num_classes=num_classes)

    @property
    def kind(self) -> str:
        """The block type, or ``"head"``."""
        return HEAD if self.block is None else self.block.type

    @property
    def width(self) -> int:
        """Output channels of the block; the head: its conv width."""
        return self.block.width if self.block is not None else self.head.width

    @property
    def act(self) -> str:
        return self.block.act if self.block is not None else self.head.act

    @cached_property
    def text(self) -> str:
        """Stable text form, the table key (e.g. ``mbconv|40>80|h28|k5|s2|e6|se0.25|relu``)."""
        parts = [self.kind, f"{self.in_chs}>{self.width}", f"h{self.size}"]
        b = self.block
        if b is None:
            parts += [self.act, f"nc{self.num_classes}"]
            return "|".join(parts)
        parts += [f"k{b.kernel}", f"s{b.stride}", f"e{_num(b.expansion)}"]
        parts += [f"se{_num(b.se)}", b.act]
        if b.nominal_in:
            parts.append(f"n{b.nominal_in}")
        if b.depth != 1:
            parts.append(f"d{b.depth}")
        if b.ops:
            parts.append("o[" + ",".join(b.ops) + "]")
        return "|".join(parts)

    def stage(self) -> Stage:
        """The one-block (or fixed-depth) stage that builds this layer."""
        if self.block is None:
            raise ArchError(f"layer {self.text} is the head, not a block")
        return self.block

    @property
    def out_size(self) -> int:
        if self.block is None:
            return 1
        return stage_output(self.block, self.in_chs, self.size)[1]


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


def stage_layers(stage: Stage, in_chs: int, size: int) -> tuple[list[LayerKey], int, int]:
    """The layers of one stage given its input; returns (keys, out channels, out size): the
    whole stage for a fixed-depth type, else its first block (the stage's stride and
    ``nominal_in``) and ``depth - 1`` stride-1 blocks whose input is the stage's width."""
    if stage.depth == 0:
        return [], in_chs, size
    out_chs, out = stage_output(stage, in_chs, size)
    if is_fixed_depth(stage.type):
        return [LayerKey(in_chs, size, stage)], out_chs, out
    keys = [LayerKey(in_chs, size, dataclasses.replace(stage, depth=1))]
    if stage.depth > 1:
        repeat = dataclasses.replace(stage, depth=1, stride=1, nominal_in=0)
        keys += [LayerKey(stage.width, out, repeat)] * (stage.depth - 1)
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
        fixed = is_fixed_depth(stage.type)
        for j, key in enumerate(keys):
            entries.append(LayerEntry(key, prefix if fixed else f"{prefix}.{j}", index, j))
    key = LayerKey.of_head(arch.head, chs, size, num_classes)
    entries.append(LayerEntry(key, HEAD, len(arch.stages), 0))
    return entries


def layer_module(key: LayerKey) -> nn.Module:
    """The layer alone, built by the same builder as the whole network (random weights)."""
    if key.kind == HEAD:
        conv, pool, classifier, _ = head_modules(key.head, key.in_chs, key.num_classes)
        return nn.Sequential(*(m for m in (conv, pool, classifier) if m is not None))
    try:
        return build_block(key.stage(), key.in_chs, key.size)
    except ArchError as exc:
        raise ArchError(f"layer {key.text}: {exc}") from None


#: per-image multiply-adds, weights, input and output activation elements of a layer
LayerCost = BlockCost


def layer_cost(key: LayerKey) -> LayerCost:
    """The layer's cost by its block type's description
    (:func:`accelsearch.core.accounting.block_cost`: the analytic rule, else counted on the
    meta device); the head by :func:`accelsearch.core.block_costs.head_cost`."""
    if key.kind == HEAD:
        return head_cost(key.head, key.in_chs, key.size, key.num_classes)
    try:
        return block_cost(key.stage(), key.in_chs, key.size)
    except ArchError as exc:
        raise ArchError(f"layer {key.text}: {exc}") from None
