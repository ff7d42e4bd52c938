"""One builder: ``Arch`` -> ``nn.Module``, made of timm's own blocks.

Each stage ``type`` has one description (:class:`accelsearch.core.blocks.BlockType`,
registered with ``@register_block("mbconv", cost=..., chain=...)`` on its builder); the four
built-in types (``conv``, ``s2d``, ``mbconv``, ``fused``) are described here, and spaces that
need other blocks (GENet's byobnet blocks, NAS-Bench-201 cells) describe theirs next to their
modules. A block builder is called with the stage, the channels coming in and a
:class:`BuildContext`, and returns the stage's modules and its output channels.

Padding: odd kernels get PyTorch's symmetric padding (fast on GPUs, same parameters and
multiply-adds as TF "same"); even kernels (EfficientNet-X's 2×2 depthwise) get timm's
TF-"same" padding, which is how Google's model pads them. A space-to-depth conv (n×n,
stride n) has no padding.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.block_costs import (
    conv_cost,
    expanded_width,
    fused_cost,
    mbconv_cost,
    se_width,
)
from accelsearch.core.blocks import (
    BLOCKS,
    BlockBuilder,
    BuildContext,
    ChainState,
    default_rule,
    is_fixed_depth,
    is_fixed_stride,
    is_fixed_width,
    register_block,
    where,
)
from accelsearch.core.errors import ArchError, UnknownNameError

#: the names block plug-ins import from here (``accelsearch.builder.register_block``, ...)
__all__ = [
    "BLOCKS",
    "ArchNet",
    "BlockBuilder",
    "BuildContext",
    "act_layer",
    "build_block",
    "build_model",
    "expanded_width",
    "head_modules",
    "is_fixed_depth",
    "is_fixed_stride",
    "is_fixed_width",
    "pad_for",
    "register_block",
    "se_width",
]


def act_layer(name: str) -> type[nn.Module]:
    """timm's activation layer for an ``Arch`` activation name."""
    from timm.layers import get_act_layer

    return get_act_layer("identity" if name == "none" else name)


def pad_for(kernel: int, stride: int) -> str | int:
    """timm ``pad_type`` for a kernel (see the module docstring)."""
    if kernel == stride and kernel % 2 == 0:
        return 0
    return "" if kernel % 2 == 1 else "same"


def _se_layer(nominal_in: int, se: float):
    if se <= 0:
        return None
    from timm.models._efficientnet_blocks import SqueezeExcite

    return partial(SqueezeExcite, rd_channels=se_width(nominal_in, se))


def _block_inputs(stage: Stage, index: int, in_chs: int) -> tuple[int, int]:
    """(stride, nominal input channels) of block ``index`` of a stage."""
    stride = stage.stride if index == 0 else 1
    nominal = stage.nominal_in if (index == 0 and stage.nominal_in) else in_chs
    return stride, nominal


@register_block("conv", cost=conv_cost)
def _conv(stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[nn.Module], int]:
    """``depth`` × conv-BN-act (no residual)."""
    from timm.models._efficientnet_blocks import ConvBnAct

    mods = []
    for i in range(stage.depth):
        stride, _ = _block_inputs(stage, i, in_chs)
        mods.append(
            ConvBnAct(
                in_chs,
                stage.width,
                stage.kernel,
                stride=stride,
                pad_type=pad_for(stage.kernel, stride),
                act_layer=act_layer(stage.act),
            )
        )
        ctx.next_drop_path()
        in_chs = stage.width
    return mods, in_chs


def _s2d_rule(stage: Stage, state: ChainState) -> tuple[int, int]:
    if stage.kernel != stage.stride:
        raise ArchError(
            f"{where(state.index, stage)} field 'kernel' is {stage.kernel}: a space-to-depth "
            f"conv is n×n with stride n, so kernel must equal stride {stage.stride}"
        )
    return default_rule(stage, state)


@register_block("s2d", chain=_s2d_rule, cost=conv_cost, fixed_depth=True, fixed_stride=True)
def _space_to_depth(stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[nn.Module], int]:
    """Space-to-depth as an n×n stride-n conv + BN + act (EfficientNet-X §3)."""
    from timm.models._efficientnet_blocks import ConvBnAct

    if stage.kernel != stage.stride or stage.kernel < 2:
        raise ArchError(
            f"Stage('s2d').kernel must equal its stride and be >= 2 (an n×n stride-n conv); "
            f"got kernel={stage.kernel}, stride={stage.stride}"
        )
    if stage.depth != 1:
        raise ArchError(f"Stage('s2d').depth must be 1, got {stage.depth}")
    ctx.next_drop_path()
    block = ConvBnAct(
        in_chs,
        stage.width,
        stage.kernel,
        stride=stage.stride,
        pad_type=0,
        act_layer=act_layer(stage.act),
    )
    return [block], stage.width


@register_block("mbconv", cost=mbconv_cost)
def _mbconv(stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[nn.Module], int]:
    """MBConv: expand 1×1, depthwise k×k, SE, project 1×1 (timm ``InvertedResidual``).

    Expansion 1 drops the expand conv, as TF's MBConvBlock does (timm's
    ``DepthwiseSeparableConv``, i.e. "MBConv1").
    """
    from timm.models._efficientnet_blocks import DepthwiseSeparableConv, InvertedResidual

    mods: list[nn.Module] = []
    act = act_layer(stage.act)
    for i in range(stage.depth):
        stride, nominal = _block_inputs(stage, i, in_chs)
        se = _se_layer(nominal, stage.se)
        pad = pad_for(stage.kernel, stride)
        if stage.expansion == 1.0:
            block = DepthwiseSeparableConv(
                in_chs,
                stage.width,
                dw_kernel_size=stage.kernel,
                stride=stride,
                pad_type=pad,
                act_layer=act,
                se_layer=se,
                drop_path_rate=ctx.next_drop_path(),
            )
        else:
            mid = expanded_width(nominal, stage.expansion)
            block = InvertedResidual(
                in_chs,
                stage.width,
                dw_kernel_size=stage.kernel,
                stride=stride,
                pad_type=pad,
                exp_ratio=mid / in_chs,
                act_layer=act,
                se_layer=se,
                drop_path_rate=ctx.next_drop_path(),
            )
        mods.append(block)
        in_chs = stage.width
    return mods, in_chs


@register_block("fused", cost=fused_cost)
def _fused(stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[nn.Module], int]:
    """Fused MBConv: k×k expand conv, SE, project 1×1 (timm ``EdgeResidual``)."""
    from timm.models._efficientnet_blocks import EdgeResidual

    mods: list[nn.Module] = []
    act = act_layer(stage.act)
    for i in range(stage.depth):
        stride, nominal = _block_inputs(stage, i, in_chs)
        mid = expanded_width(nominal, stage.expansion)
        mods.append(
            EdgeResidual(
                in_chs,
                stage.width,
                exp_kernel_size=stage.kernel,
                stride=stride,
                pad_type=pad_for(stage.kernel, stride),
                force_in_chs=mid,
                exp_ratio=1.0,
                act_layer=act,
                se_layer=_se_layer(nominal, stage.se),
                drop_path_rate=ctx.next_drop_path(),
            )
        )
        in_chs = stage.width
    return mods, in_chs


def head_modules(
    head: Head | None, in_chs: int, num_classes: int
) -> tuple[nn.Module | None, nn.Module, nn.Module | None, int]:
    """The head's 1×1 conv-BN-act (None: no conv), its pool and its classifier (None: no
    classes), and the width of the pooled features: one rule for the whole network and for
    the latency room's head layer. (Dropout is the network's; it takes no time.)"""
    from timm.layers import SelectAdaptivePool2d
    from timm.models._efficientnet_blocks import ConvBnAct

    conv = None
    if head is not None and head.width > 0:
        conv = ConvBnAct(in_chs, head.width, 1, act_layer=act_layer(head.act))
        in_chs = head.width
    pool = SelectAdaptivePool2d(pool_type="avg", flatten=True)
    classifier = nn.Linear(in_chs, num_classes) if num_classes > 0 else None
    return conv, pool, classifier, in_chs


class ArchNet(nn.Module):
    """The network an ``Arch`` describes: stem, stages, head (conv 1×1, pool, FC)."""

    def __init__(self, arch: Arch, num_classes: int = 1000, drop_path_rate: float = 0.0) -> None:
        super().__init__()
        self.arch = arch
        self.num_classes = num_classes
        n_blocks = arch.num_blocks
        ctx = BuildContext(
            drop_path_rates=[drop_path_rate * i / max(1, n_blocks - 1) for i in range(n_blocks)],
            resolution=arch.resolution,
        )
        chs = arch.in_chans
        if arch.stem is not None:
            stem_mods, chs = _build_stage(arch.stem, chs, BuildContext(), "stem")
            self.stem = nn.Sequential(*stem_mods)
        else:
            self.stem = nn.Identity()
        stages = []
        for i, stage in enumerate(arch.stages):
            mods, chs = _build_stage(stage, chs, ctx, f"stages[{i}]")
            stages.append(nn.Sequential(*mods))
        self.stages = nn.Sequential(*stages)
        head = arch.head
        conv, pool, classifier, chs = head_modules(head, chs, num_classes)
        self.conv_head = conv or nn.Identity()
        self.num_features = chs
        self.global_pool = pool
        self.drop = nn.Dropout(head.dropout if head is not None else 0.0)
        self.classifier = classifier or nn.Identity()
        _init_weights(self)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_head(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.drop(self.global_pool(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _build_stage(
    stage: Stage, in_chs: int, ctx: BuildContext, where: str
) -> tuple[list[nn.Module], int]:
    try:
        return BLOCKS.get(stage.type).build(stage, in_chs, ctx)
    except (ArchError, UnknownNameError) as exc:
        raise type(exc)(f"{where}: {exc}") from None


def build_block(block: Stage, in_chs: int, size: int) -> nn.Module:
    """One block (a one-block stage, or the whole stage of a fixed-depth type) alone, by the
    same builder as the whole network (random weights): the unit the latency room times."""
    mods, _ = BLOCKS.get(block.type).build(block, in_chs, BuildContext(resolution=size))
    return nn.Sequential(*mods)


def _init_weights(model: nn.Module) -> None:
    """Google's EfficientNet initialisation, as timm applies it.

    Modules that set ``keeps_own_init = True`` (a whole timm model inside a ``timm``
    stage) keep the initialisation their library gave them, and so do their children.
    """
    from timm.models._efficientnet_builder import _init_weight_goog

    kept = [name for name, m in model.named_modules() if getattr(m, "keeps_own_init", False)]
    for name, module in model.named_modules():
        if any(name == k or name.startswith(k + ".") for k in kept):
            continue
        _init_weight_goog(module, name)


def build_model(arch: Arch, num_classes: int = 1000, drop_path_rate: float = 0.0) -> nn.Module:
    """Build ``arch`` as a PyTorch module (random weights, train mode)."""
    if not isinstance(arch, Arch):
        raise ArchError(f"build_model needs an Arch, got {type(arch).__name__}")
    if num_classes < 0:
        raise ArchError(f"num_classes must be >= 0, got {num_classes}")
    return ArchNet(arch, num_classes=num_classes, drop_path_rate=drop_path_rate)
