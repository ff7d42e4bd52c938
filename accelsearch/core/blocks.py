"""One description per block type: how to build it, its output shape, its cost, and whether
compound scaling may change its depth and width (timm's habit: architectures are data,
decoded by one builder, one description per block type).

A :class:`BlockType` is registered once, where the block's modules are written::

    @register_block("s2d", chain=s2d_rule, cost=conv_cost, fixed_depth=True)
    def _space_to_depth(stage, in_chs, ctx): ...

and every room reads that one record: the builder builds with ``build``; the spaces'
:func:`~accelsearch.spaces.constraints.check_chain` and the latency room's layer list take the
output shape from ``chain``; the latency room turns ``cost`` (multiply-adds, weights,
activations; :mod:`accelsearch.core.block_costs`) into time, or counts the built block when a
type has no analytic rule (:func:`accelsearch.core.accounting.block_cost`); scaling reads
``fixed_depth`` and ``fixed_width``; proxy training's stride capping reads ``fixed_stride``.

This module imports neither PyTorch nor timm, so ``import accelsearch.scaling`` can read the
depth/width facts and stay light.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from accelsearch.core.arch import Stage
from accelsearch.core.block_costs import BlockCost
from accelsearch.core.errors import ArchError
from accelsearch.core.registry import Registry


@dataclass
class BuildContext:
    """What block builders may need beyond the stage itself."""

    drop_path_rates: list[float] = field(default_factory=list)
    block_index: int = 0
    resolution: int = 224

    def next_drop_path(self) -> float:
        rate = (
            self.drop_path_rates[self.block_index]
            if self.block_index < len(self.drop_path_rates)
            else 0.0
        )
        self.block_index += 1
        return rate


@dataclass(frozen=True)
class ChainState:
    """What flows into a stage: channels and feature-map size (square)."""

    channels: int
    size: int
    index: int | None  # None for the stem
    first: bool  # the first module after the input image


#: ``build(stage, in_chs, ctx) -> (modules, out channels)``; modules are ``torch.nn.Module`` s
BlockBuilder = Callable[[Stage, int, BuildContext], "tuple[list[Any], int]"]
#: ``chain(stage, state) -> (out channels, out size)``; raises ``ArchError`` naming the stage
ChainRule = Callable[[Stage, ChainState], "tuple[int, int]"]
#: ``cost(block, in_chs, size, out_size) -> BlockCost`` of one block (a fixed-depth type: the
#: whole stage)
CostRule = Callable[[Stage, int, int, int], BlockCost]


def where(index: int | None, stage: Stage) -> str:
    """How errors name a stage: ``stem ('conv')`` or ``stages[2] ('mbconv')``."""
    return f"stem ({stage.type!r})" if index is None else f"stages[{index}] ({stage.type!r})"


def default_rule(stage: Stage, state: ChainState) -> tuple[int, int]:
    """Padded convs: ``ceil(size / stride)``; an unpadded n×n stride-n conv needs ``size % n == 0``."""
    if stage.depth == 0:
        return state.channels, state.size
    if stage.kernel == stage.stride and stage.kernel % 2 == 0 and state.size % stage.stride:
        raise ArchError(
            f"{where(state.index, stage)} field 'stride' is {stage.stride} with an unpadded "
            f"{stage.kernel}×{stage.kernel} conv, but its input is {state.size}×{state.size} "
            f"(not divisible); change the resolution or the strides before it"
        )
    return stage.width, math.ceil(state.size / stage.stride)


@dataclass(frozen=True)
class BlockType:
    """Everything the rooms know of one block type (see the module docstring).

    ``cost`` None: no analytic rule; the block is counted when built (on the meta device).
    ``fixed_depth``: the stage is one structural op (space-to-depth, a reduction cell, a
    whole timm model): it is one layer however deep, and compound scaling never repeats it.
    ``fixed_width``: its channels are not its own to choose (a whole timm model): compound
    scaling keeps them. ``fixed_stride``: its stride is structural (an unpadded n×n stride-n
    conv): capping a candidate's strides for small images leaves it alone, and the image
    must divide by the strides up to it.
    """

    name: str
    build: BlockBuilder
    chain: ChainRule = default_rule
    cost: CostRule | None = None
    fixed_depth: bool = False
    fixed_width: bool = False
    fixed_stride: bool = False

    def __call__(self, stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[Any], int]:
        """Build: ``BLOCKS.get(type)(stage, in_chs, ctx)`` as before descriptions existed."""
        return self.build(stage, in_chs, ctx)


#: the one registry of block types: ``BLOCKS.get("mbconv")`` is its :class:`BlockType`
BLOCKS: Registry[BlockType] = Registry("block type")


def register_block(
    name: str,
    *,
    chain: ChainRule | None = None,
    cost: CostRule | None = None,
    fixed_depth: bool = False,
    fixed_width: bool = False,
    fixed_stride: bool = False,
) -> Callable[[BlockBuilder], BlockBuilder]:
    """Decorator registering the builder of stages of ``type == name`` with the rest of its
    description (:class:`BlockType`): ``chain`` (default :func:`default_rule`), ``cost``
    (default: counted from the built block), ``fixed_depth``, ``fixed_width``,
    ``fixed_stride``."""

    def deco(build: BlockBuilder) -> BlockBuilder:
        BLOCKS.add(
            name,
            BlockType(
                name,
                build,
                chain=chain or default_rule,
                cost=cost,
                fixed_depth=fixed_depth,
                fixed_width=fixed_width,
                fixed_stride=fixed_stride,
            ),
        )
        return build

    return deco


def chain_rule(block_type: str) -> ChainRule:
    """The chain rule of ``block_type`` (:func:`default_rule` for a type no one registered:
    the builder names it when it is built)."""
    return BLOCKS.get(block_type).chain if block_type in BLOCKS else default_rule


def stage_output(stage: Stage, in_chs: int, size: int) -> tuple[int, int]:
    """(channels, size) after ``stage`` given its input, by its block type's chain rule (a
    stage in the middle of a network: not the first module after the image)."""
    if stage.depth == 0:
        return in_chs, size
    return chain_rule(stage.type)(stage, ChainState(in_chs, size, None, False))


def is_fixed_depth(block_type: str) -> bool:
    return block_type in BLOCKS and BLOCKS.get(block_type).fixed_depth


def is_fixed_width(block_type: str) -> bool:
    return block_type in BLOCKS and BLOCKS.get(block_type).fixed_width


def is_fixed_stride(block_type: str) -> bool:
    return block_type in BLOCKS and BLOCKS.get(block_type).fixed_stride
