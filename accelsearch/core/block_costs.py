"""Analytic work and data of one block: multiply-adds, weights, activations.

A block type's description (:class:`accelsearch.core.blocks.BlockType`) names its cost rule;
the rules of the built-in block types are here, in counts only (no time, no device: the
latency room turns counts into milliseconds). Each rule takes the one-block stage (or the
whole stage of a fixed-depth type), its input channels, its input and output sizes, and
returns a :class:`BlockCost` equal to what ``torch.utils.flop_counter`` counts on the built
block (``tests/test_block_contract.py`` holds every rule to that).

The width rules the builder follows (``expanded_width``, ``se_width``) live here too, so the
builder and the cost formulas read the same rule.
"""

from __future__ import annotations

from dataclasses import dataclass

from accelsearch.core.arch import Head, Stage


@dataclass(frozen=True)
class BlockCost:
    """Per-image work and data of a block: multiply-adds, weights, input and output
    activation elements (multiply by batch size and bytes per element for traffic)."""

    macs: int
    params: int
    in_elems: int
    out_elems: int


def expanded_width(nominal_in: int, expansion: float) -> int:
    """Channels inside an (fused) MBConv: timm's ``make_divisible(in × expansion)``."""
    from timm.layers import make_divisible  # timm pulls in torch; core.blocks stays light

    return int(make_divisible(nominal_in * expansion))


def se_width(nominal_in: int, se: float) -> int:
    """Squeeze-excite reduce width: ``int(input channels × se)``, at least 1."""
    return max(1, int(nominal_in * se))


def conv_counts(
    cin: int, cout: int, k: int, size_out: int, groups: int = 1, bias: bool = False
) -> tuple[int, int]:
    """(multiply-adds, weights) of a k×k conv with ``size_out``² outputs."""
    macs = cout * (cin // groups) * k * k * size_out * size_out
    params = cout * (cin // groups) * k * k + (cout if bias else 0)
    return macs, params


def se_counts(chs: int, rd: int) -> tuple[int, int]:
    """(multiply-adds, weights) of a squeeze-excite with reduce width ``rd`` (pooling and
    gating are not multiply-adds)."""
    return 2 * chs * rd, 2 * chs * rd + chs + rd


def conv_cost(stage: Stage, in_chs: int, size: int, out: int) -> BlockCost:
    """Conv-BN-act (``conv``; ``s2d``, an unpadded n×n stride-n conv)."""
    macs, params = conv_counts(in_chs, stage.width, stage.kernel, out)
    params += 2 * stage.width  # BN
    return BlockCost(macs, params, in_chs * size**2, stage.width * out * out)


def mbconv_cost(stage: Stage, in_chs: int, size: int, out: int) -> BlockCost:
    """Expand 1×1 (not at expansion 1), depthwise k×k, SE, project 1×1; BN after each conv."""
    nominal = stage.nominal_in or in_chs
    macs = params = 0
    if stage.expansion == 1.0:
        mid = in_chs
    else:
        mid = expanded_width(nominal, stage.expansion)
        m, p = conv_counts(in_chs, mid, 1, size)
        macs, params = macs + m, params + p + 2 * mid
    m, p = conv_counts(mid, mid, stage.kernel, out, groups=mid)
    macs, params = macs + m, params + p + 2 * mid
    return _se_and_project(stage, in_chs, size, out, mid, (macs, params))


def fused_cost(stage: Stage, in_chs: int, size: int, out: int) -> BlockCost:
    """k×k expand conv, SE, project 1×1; BN after each conv."""
    mid = expanded_width(stage.nominal_in or in_chs, stage.expansion)
    macs, params = conv_counts(in_chs, mid, stage.kernel, out)
    return _se_and_project(stage, in_chs, size, out, mid, (macs, params + 2 * mid))


def _se_and_project(
    stage: Stage, in_chs: int, size: int, out: int, mid: int, before: tuple[int, int]
) -> BlockCost:
    """The tail both MBConvs share: SE on the ``mid`` channels, project 1×1 + BN; ``before``
    is (multiply-adds, weights) of the block up to there."""
    macs, params = before
    if stage.se > 0:
        m, p = se_counts(mid, se_width(stage.nominal_in or in_chs, stage.se))
        macs, params = macs + m, params + p
    m, p = conv_counts(mid, stage.width, 1, out)
    macs, params = macs + m, params + p + 2 * stage.width
    return BlockCost(macs, params, in_chs * size * size, stage.width * out * out)


def head_cost(head: Head, in_chs: int, size: int, num_classes: int) -> BlockCost:
    """The head: optional 1×1 conv-BN-act to ``head.width``, pool, classifier."""
    macs = params = 0
    chs = in_chs
    if head.width > 0:
        m, p = conv_counts(chs, head.width, 1, size)
        macs, params, chs = m, p + 2 * head.width, head.width
    if num_classes > 0:
        macs += chs * num_classes
        params += chs * num_classes + num_classes
    return BlockCost(macs, params, in_chs * size**2, max(num_classes, chs))
