"""NAS-Bench-201's blocks: the cell, the reduction block and the final BN-act.

Each block type is described here once (:class:`accelsearch.core.blocks.BlockType`): its
modules (ReLU-Conv-BN order, as in NAS-Bench-201), how the builder makes it and how it takes
the previous stage's output (its chain rule, checked by ``SearchSpace.check``), both given to
``register_block``. Their cost is counted from the built block (no analytic rule). The
spaces that use them (``nb201``, ``nats_size``) are in :mod:`accelsearch.spaces.nb201`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from accelsearch.core.arch import Stage
from accelsearch.core.blocks import BuildContext, ChainState, default_rule, register_block, where
from accelsearch.core.builder import act_layer
from accelsearch.core.errors import ArchError, choices_text

#: edge operations, in NAS-Bench-201's order (the order ``index`` counts in)
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
#: the 6 edges (to_node, from_node), in string order
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))


def check_ops(ops: Sequence[str], caller: str) -> tuple[str, ...]:
    """``ops`` as a tuple of 6 known edge ops; ``caller`` names the caller in the error."""
    ops = tuple(ops)
    if len(ops) != len(EDGES):
        raise ArchError(f"{caller}: an NB201 cell has {len(EDGES)} edge ops, got {len(ops)}")
    for (i, j), op in zip(EDGES, ops):
        if op not in OPS:
            raise ArchError(
                f"{caller}: edge {j}->{i} has op {op!r}; valid choices: {choices_text(OPS)}"
            )
    return ops


# -- modules (ReLU-Conv-BN order, as in NAS-Bench-201) ---------------------------------------
def _relu_conv_bn(c_in: int, c_out: int, kernel: int, stride: int = 1) -> nn.Module:
    return nn.Sequential(
        nn.ReLU(inplace=False),
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(c_out),
    )


def _edge_module(op: str, c_in: int, c_out: int) -> nn.Module:
    """One stride-1 edge op; an op that changes channels gets NB201's 1×1 projection."""
    if op == "nor_conv_1x1":
        return _relu_conv_bn(c_in, c_out, 1)
    if op == "nor_conv_3x3":
        return _relu_conv_bn(c_in, c_out, 3)
    pool = nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    if op == "avg_pool_3x3":
        return pool if c_in == c_out else nn.Sequential(_relu_conv_bn(c_in, c_out, 1), pool)
    if op == "skip_connect":
        if c_in == c_out:
            return nn.Identity()
        # NB201's stride-1 FactorizedReduce: conv 1×1 + BN, no ReLU
        return nn.Sequential(nn.Conv2d(c_in, c_out, 1, bias=False), nn.BatchNorm2d(c_out))
    raise ArchError(f"NB201 edge op {op!r} has no module; valid choices: {choices_text(OPS)}")


class Nb201Cell(nn.Module):
    """A NAS-Bench-201 cell: node i = sum of its input edges' ops; the output is node 3.

    ``none`` edges are not built (they add zeros); a node whose inputs are all ``none`` is a
    zero tensor, as in the benchmark.
    """

    def __init__(self, c_in: int, c_out: int, ops: Sequence[str]) -> None:
        super().__init__()
        self.ops = check_ops(ops, "Nb201Cell")
        self.c_out = c_out
        self.edges = nn.ModuleDict()
        self._inputs: dict[int, list[tuple[int, str]]] = {1: [], 2: [], 3: []}
        for (i, j), op in zip(EDGES, self.ops):
            if op != "none":
                self.edges[f"{j}to{i}"] = _edge_module(op, c_in if j == 0 else c_out, c_out)
                self._inputs[i].append((j, f"{j}to{i}"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for i in (1, 2, 3):
            total = None
            for j, key in self._inputs[i]:
                y = self.edges[key](nodes[j])
                total = y if total is None else total + y
            if total is None:
                n, _, h, w = x.shape
                total = x.new_zeros(n, self.c_out, h, w)
            nodes.append(total)
        return nodes[3]


class Nb201ResBlock(nn.Module):
    """NAS-Bench-201's reduction block: ResNet basic block, ReLU-Conv-BN ×2, pooled shortcut."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv_a = _relu_conv_bn(c_in, c_out, 3, stride)
        self.conv_b = _relu_conv_bn(c_out, c_out, 3)
        if stride == 2:
            self.shortcut = nn.Sequential(
                nn.AvgPool2d(2, stride=2), nn.Conv2d(c_in, c_out, 1, bias=False)
            )
        elif c_in != c_out:
            self.shortcut = _relu_conv_bn(c_in, c_out, 1)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.conv_b(self.conv_a(x))


class BnAct(nn.Module):
    """BatchNorm + activation on the incoming channels (NB201's ``lastact`` before pooling)."""

    def __init__(self, channels: int, act: str) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.act = act_layer(act)()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(x))


# -- chain rules (how a stage takes its input), given to register_block below -------------
def _bnact_rule(stage: Stage, state: ChainState) -> tuple[int, int]:
    if stage.width != state.channels:
        raise ArchError(
            f"{where(state.index, stage)} field 'width' is {stage.width}, but its input has "
            f"{state.channels} channels; BN-act keeps the channels, use width={state.channels}"
        )
    return default_rule(stage, state)


def _cell_rule(stage: Stage, state: ChainState) -> tuple[int, int]:
    if stage.stride != 1:
        raise ArchError(
            f"{where(state.index, stage)} field 'stride' is {stage.stride}; cells keep the "
            "resolution: use stride=1 and reduce with an 'nb201res' stage"
        )
    return default_rule(stage, state)


@register_block("nb201cell", chain=_cell_rule)
def _nb201_cells(stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[nn.Module], int]:
    """``depth`` NB201 cells of ``width`` channels; the first takes ``in_chs`` (NATS sizes)."""
    if stage.stride != 1:
        raise ArchError(
            f"Stage('nb201cell').stride must be 1 (cells keep the resolution; reduce with an "
            f"'nb201res' stage), got {stage.stride}"
        )
    if len(stage.ops) != len(EDGES):
        raise ArchError(
            f"Stage('nb201cell').ops must hold the {len(EDGES)} edge ops of the cell, got "
            f"{len(stage.ops)}: {stage.ops!r}"
        )
    mods: list[nn.Module] = []
    for _ in range(stage.depth):
        ctx.next_drop_path()
        mods.append(Nb201Cell(in_chs, stage.width, stage.ops))
        in_chs = stage.width
    return mods, in_chs


@register_block("nb201res", fixed_depth=True)
def _nb201_res(stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[nn.Module], int]:
    if stage.depth != 1:
        raise ArchError(f"Stage('nb201res').depth must be 1, got {stage.depth}")
    if stage.stride not in (1, 2):
        raise ArchError(f"Stage('nb201res').stride must be 1 or 2, got {stage.stride}")
    ctx.next_drop_path()
    return [Nb201ResBlock(in_chs, stage.width, stage.stride)], stage.width


@register_block("bnact", chain=_bnact_rule, fixed_depth=True)
def _bnact(stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[nn.Module], int]:
    if stage.width != in_chs:
        raise ArchError(
            f"Stage('bnact').width must equal its input channels {in_chs} (BN-act keeps the "
            f"channels), got {stage.width}"
        )
    if stage.depth != 1 or stage.stride != 1:
        raise ArchError(
            f"Stage('bnact') needs depth 1 and stride 1, got depth {stage.depth}, "
            f"stride {stage.stride}"
        )
    ctx.next_drop_path()
    return [BnAct(in_chs, stage.act)], in_chs
