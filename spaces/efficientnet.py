"""EfficientNet / MnasNet-style space: the accuracy-and-FLOPs baseline the accelerator spaces
are compared with.

Sources: Tan & Le, *EfficientNet* (ICML 2019), Table 1 (EfficientNet-B0, found in the MnasNet
space); Tan et al., *MnasNet* (CVPR 2019), §4 (factorized hierarchical space: per block
kernel {3, 5}, MBConv expansion, squeeze-excite {0, 0.25}, filter ratio {0.75, 1.0, 1.25},
layers {-1, 0, +1} of the base). EfficientNet-B0's skeleton, per stage:

=====  ===========  ======  ======  ========  =======
stage  block        kernel  stride  channels  layers
=====  ===========  ======  ======  ========  =======
stem   conv 3×3     3       2       32        1
1      MBConv1      3       1       16        1
2      MBConv6      3       2       24        2
3      MBConv6      5       2       40        2
4      MBConv6      3       2       80        3
5      MBConv6      5       1       112       3
6      MBConv6      5       2       192       4
7      MBConv6      3       1       320       1
head   conv 1×1     1       1       1280      1
=====  ===========  ======  ======  ========  =======

swish activations, SE 0.25 of the block input, dropout 0.2. The space searches, per stage,
kernel, expansion {1, 3, 6} (1 = the depthwise-separable "MBConv1"), SE, width and depth,
and the resolution; it is a :class:`~accelsearch.spaces.stagewise.StagewiseSpace`.

Measured (tests/spaces/test_efficientnet.py): EfficientNet-B0 5.29 M params and 0.39 G
multiply-adds at 224 px (published 5.3 M / 0.39 G), the same counts as timm's
``efficientnet_b0``.
"""

from __future__ import annotations

from collections.abc import Sequence

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ConfigError
from accelsearch.spaces.constraints import FixedStrides, MultipleOf
from accelsearch.spaces.distributions import Categorical, IntRange, Ordinal
from accelsearch.spaces.efficientnet_x import round_filters
from accelsearch.spaces.registry import register_space
from accelsearch.spaces.stagewise import StageSpec, StagewiseSpace

#: EfficientNet-B0 stages 1-7: (expansion, kernel, stride, channels, layers)
B0_STAGES = (
    (1, 3, 1, 16, 1),
    (6, 3, 2, 24, 2),
    (6, 5, 2, 40, 2),
    (6, 3, 2, 80, 3),
    (6, 5, 1, 112, 3),
    (6, 5, 2, 192, 4),
    (6, 3, 1, 320, 1),
)
B0_STEM, B0_HEAD, B0_DROPOUT, B0_SE = 32, 1280, 0.2, 0.25
#: published sizes (1000 classes): params, multiply-adds at 224 px
PUBLISHED = {"efficientnet-b0": (5.3e6, 0.39e9)}


def efficientnet_b0(resolution: int = 224, act: str = "swish") -> Arch:
    """EfficientNet-B0 (Tan & Le, Table 1) as an ``Arch``."""
    return Arch(
        resolution=resolution,
        stem=Stage("conv", width=B0_STEM, kernel=3, stride=2, act=act),
        stages=tuple(
            Stage(
                "mbconv",
                width=c,
                depth=n,
                kernel=k,
                stride=s,
                expansion=float(e),
                se=B0_SE,
                act=act,
            )
            for e, k, s, c, n in B0_STAGES
        ),
        head=Head(width=B0_HEAD, act=act, dropout=B0_DROPOUT),
    )


@register_space("efficientnet")
class EfficientNetSpace(StagewiseSpace):
    """MnasNet-style space around EfficientNet-B0 (Tan & Le 2019; Tan et al. 2019).

    Options: ``width_mult`` (scales the widths, stem and head; 0.25 for laptop-sized
    models), ``resolutions``, ``depth_deltas``, ``width_choices``, ``kernels``,
    ``expansions``, ``se_choices``, ``act`` (fixed activation, swish).
    """

    source = "Tan & Le, EfficientNet, ICML 2019, Table 1; Tan et al., MnasNet, CVPR 2019, §4"

    def __init__(
        self,
        *,
        width_mult: float = 1.0,
        resolutions: Sequence[int] = (224,),
        depth_deltas: Sequence[int] = (-1, 0, 1),
        width_choices: Sequence[float] = (0.75, 1.0, 1.25),
        kernels: Sequence[int] = (3, 5),
        expansions: Sequence[float] = (1.0, 3.0, 6.0),
        se_choices: Sequence[float] = (0.0, 0.25),
        act: str = "swish",
    ) -> None:
        if width_mult <= 0 or not resolutions or not depth_deltas or not width_choices:
            raise ConfigError(
                "efficientnet options: width_mult must be > 0 and resolutions, depth_deltas, "
                "width_choices need values"
            )
        deltas = sorted(set(int(d) for d in depth_deltas))
        stages = []
        for _e, _k, s, c, n in B0_STAGES:
            widths = sorted({round_filters(c * w, width_mult) for w in width_choices})
            lo = max(1, n + deltas[0])
            stages.append(
                StageSpec(
                    "mbconv",
                    width=Ordinal(tuple(widths)),
                    depth=IntRange(lo, max(lo, n + deltas[-1])),
                    kernel=Ordinal(tuple(sorted(kernels))),
                    stride=s,
                    expansion=Categorical(tuple(float(x) for x in expansions)),
                    se=Categorical(tuple(float(x) for x in se_choices)),
                    act=act,
                )
            )
        self.width_mult = float(width_mult)
        super().__init__(
            resolution=Ordinal(tuple(sorted(int(r) for r in resolutions))),
            stem=Stage(
                "conv", width=round_filters(B0_STEM, width_mult), kernel=3, stride=2, act=act
            ),
            stages=tuple(stages),
            head=Head(width=round_filters(B0_HEAD, width_mult), act=act, dropout=B0_DROPOUT),
            constraints=(
                FixedStrides([s for _, _, s, _, _ in B0_STAGES], stem=2),
                MultipleOf("width", 8),
            ),
            reference_archs={"efficientnet-b0": efficientnet_b0},
        )
