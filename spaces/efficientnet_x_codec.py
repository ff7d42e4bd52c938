"""EfficientNet-X's parameters <-> ``Arch``: the B0 reference of Table 1 and the codec.

Split from :mod:`.efficientnet_x` (the space class and the ``s2bstem`` block stay there).
How Google's public definition (``efficientnet_x_builder.py``) decodes, and how this module
reconciles it with the paper's Table 1 (both quoted in ``shared/data/README.md``):

* stage 2 "Conv2x2 space-to-depth, 112 -> 56, 128 channels" is the ``d1`` option of block 1:
  a 2×2 stride-2 conv from the 32 stem channels to 4 × 32 = 128 (Stage type ``s2d``).
* stage 3 "MBConv1 k3, 64 channels" is block 1 with ``d1``: its filters are ×4 (16 -> 64) and
  its kernel becomes (3 + 1) // 2 = 2, a 2×2 depthwise conv with TF "same" padding. We follow
  Google's code (depthwise 2×2); Table 1 still calls the stage "k3", and the search parameter
  stays the nominal kernel (3 or 5), mapped to (k + 1) // 2 here.
* stage 4 "fused MBConv6 k3" with ``d2`` loses its stride (space-to-depth already halved the
  map) and expands from the nominal 16 input filters: 64 -> 16 × 6 = 96 -> 24.
* squeeze-excite: Google writes se0.25 with an SE coefficient of 4 for x-b0, i.e. a reduce
  width of ``input filters × 1.0``, divided by 4 in the ``d1`` block; here ``se=1.0`` relative
  to the block's nominal input (32 in block 1, then 16, 24, 24, 40, ...). Table 1's SE column
  (1, 0.5, 0.25, 0.25 for stages 3-6) is not the same quantity and is not used; with it the
  model would not reach the published 7.6 M parameters.
* activations: ReLU everywhere (the paper's GPU setting; Google's TPU model uses swish in
  stages 4-5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ArchError, ConfigError


def round_filters(filters: float, multiplier: float = 1.0, divisor: int = 8) -> int:
    """TF EfficientNet's rounding: nearest multiple of ``divisor``, never below 90 %."""
    from timm.layers import make_divisible

    return int(make_divisible(filters * multiplier, divisor))


@dataclass(frozen=True)
class _RefStage:
    type: str
    kernel: int
    expansion: float
    width: int  # nominal output filters (TF "o")
    depth: int
    stride: int


# Stages 3-9 of Table 1 with Google's block strings (nominal filters, before space-to-depth).
_B0 = {
    3: _RefStage("mbconv", 3, 1, 16, 1, 1),
    4: _RefStage("fused", 3, 6, 24, 2, 2),
    5: _RefStage("fused", 5, 6, 40, 2, 2),
    6: _RefStage("mbconv", 3, 6, 80, 3, 2),
    7: _RefStage("mbconv", 5, 6, 112, 3, 1),
    8: _RefStage("mbconv", 5, 6, 192, 4, 2),
    9: _RefStage("mbconv", 3, 6, 320, 1, 1),
}
_STEM, _HEAD = 32, 1280
STAGES = tuple(_B0)

# Google's x-b0 ... x-b7: (width, depth, resolution, dropout, SE coefficient).
REFERENCE_COEFFICIENTS = {
    "efficientnet-x-b0": (1.0, 1.0, 224, 0.2, 4),
    "efficientnet-x-b1": (1.0, 1.1, 240, 0.2, 2),
    "efficientnet-x-b2": (1.1, 1.2, 260, 0.3, 1),
    "efficientnet-x-b3": (1.2, 1.4, 300, 0.3, 1),
    "efficientnet-x-b4": (1.4, 1.8, 380, 0.4, 1),
    "efficientnet-x-b5": (1.6, 2.2, 456, 0.4, 1),
    "efficientnet-x-b6": (1.8, 2.6, 528, 0.5, 1),
    "efficientnet-x-b7": (2.0, 3.1, 600, 0.5, 1),
}


def reference_params(
    se: float = 1.0, resolution: int = 224, width_mult: float = 1.0
) -> dict[str, Any]:
    """Search parameters of EfficientNet-X-B0 (GPU form: ReLU everywhere)."""
    p: dict[str, Any] = {"resolution": resolution, "space_to_depth": True}
    for i, ref in _B0.items():
        p.update(
            {
                f"s{i}_type": ref.type,
                f"s{i}_kernel": ref.kernel,
                f"s{i}_expansion": float(ref.expansion),
                f"s{i}_se": se,
                f"s{i}_act": "relu",
                f"s{i}_depth": ref.depth,
                f"s{i}_width": round_filters(ref.width, width_mult),
            }
        )
    return p


def reference_arch(name: str) -> Arch:
    width, depth, res, dropout, se_coef = REFERENCE_COEFFICIENTS[name]
    params = reference_params(se=0.25 * se_coef, resolution=res, width_mult=width)
    return _decode(params, width, depth, dropout)


@dataclass(frozen=True)
class _Layout:
    """Options that change how parameters map to stages (defaults: Google's x-b0 form)."""

    s2d_size: int = 2
    kernels: tuple[int, ...] = (3, 5)
    space_to_batch: bool = False  # value used when the space does not search it
    act_groups: tuple[tuple[int, ...], ...] | None = None


def _s2d_kernel(kernel: int, n: int) -> int:
    """Kernel of the first block after an n×n space-to-depth: ``ceil(k / n)`` (TF: (k+1)//2)."""
    return -(-kernel // n)


def _check_groups(groups) -> tuple[tuple[int, ...], ...] | None:
    if groups is None:
        return None
    out = tuple(tuple(int(i) for i in g) for g in groups)
    flat = sorted(i for g in out for i in g)
    if flat != sorted(_B0) or any(not g for g in out):
        raise ConfigError(
            f"efficientnet_x option act_groups must split stages {list(_B0)} into non-empty "
            f"groups, each stage once, e.g. [[3, 4, 5], [6, 7, 8, 9]]; got {groups!r}"
        )
    return out


def _stage_act(p: dict[str, Any], i: int, layout: _Layout) -> str:
    if layout.act_groups is None:
        return p[f"s{i}_act"]
    g = next(k for k, grp in enumerate(layout.act_groups) if i in grp)
    return p[f"g{g + 1}_act"]


def _decode(
    p: dict[str, Any],
    width_mult: float,
    depth_mult: float,
    dropout: float,
    layout: _Layout | None = None,
) -> Arch:
    import math

    layout = layout or _Layout()
    n = layout.s2d_size
    s2d = bool(p["space_to_depth"])
    s2b = bool(p.get("space_to_batch", layout.space_to_batch))
    stem_w = round_filters(_STEM, width_mult)
    stages: list[Stage] = []
    if s2d:
        stages.append(Stage("s2d", width=n * n * stem_w, kernel=n, stride=n, act="relu"))
    # an n×n space-to-depth downsamples by n: the next log2(n) stride-2 stages lose their stride
    strides_to_drop = int(math.log2(n)) if s2d else 0
    prev_nominal = stem_w
    for i, ref in _B0.items():
        nominal = int(p[f"s{i}_width"])
        kernel, stride, width, nominal_in = p[f"s{i}_kernel"], ref.stride, nominal, 0
        if s2d and i == 3:  # the d1 block: ×n² filters, kernel ceil(k/n), nominal input = stem
            kernel, width, nominal_in = _s2d_kernel(kernel, n), n * n * nominal, stem_w
        elif s2d and i == 4:  # the d2 block: expands from the nominal filters
            nominal_in = prev_nominal
        if strides_to_drop and i > 3 and stride == 2:
            stride, strides_to_drop = 1, strides_to_drop - 1
        stages.append(
            Stage(
                p[f"s{i}_type"],
                width=width,
                depth=int(math.ceil(p[f"s{i}_depth"] * depth_mult)),
                kernel=kernel,
                stride=stride,
                expansion=float(p[f"s{i}_expansion"]),
                se=float(p[f"s{i}_se"]),
                act=_stage_act(p, i, layout),
                nominal_in=nominal_in,
            )
        )
        prev_nominal = nominal
    stem = (
        Stage("s2bstem", width=stem_w, kernel=2, stride=2, act="relu")
        if s2b
        else Stage("conv", width=stem_w, kernel=3, stride=2, act="relu")
    )
    return Arch(
        resolution=int(p["resolution"]),
        stem=stem,
        stages=tuple(stages),
        head=Head(width=round_filters(_HEAD, width_mult), act="relu", dropout=dropout),
    )


def _encode(arch: Arch, layout: _Layout | None = None) -> dict[str, Any]:
    layout = layout or _Layout()
    n = layout.s2d_size
    stages = list(arch.stages)
    s2d = bool(stages) and stages[0].type == "s2d"
    if s2d:
        stages = stages[1:]
    if len(stages) != len(_B0):
        raise ArchError(
            f"arch has {len(stages)} block stages; efficientnet_x archs have {len(_B0)} "
            "(stages 3-9 of Table 1), after an optional 's2d' stage"
        )
    p: dict[str, Any] = {
        "resolution": arch.resolution,
        "space_to_depth": s2d,
        "space_to_batch": arch.stem is not None and arch.stem.type == "s2bstem",
    }
    for i, st in zip(_B0, stages):
        first_s2d = s2d and i == 3
        kernel = st.kernel
        if first_s2d:
            kernel = next((k for k in layout.kernels if _s2d_kernel(k, n) == st.kernel), -1)
        p.update(
            {
                f"s{i}_type": st.type,
                f"s{i}_kernel": kernel,
                f"s{i}_expansion": st.expansion,
                f"s{i}_se": st.se,
                f"s{i}_depth": st.depth,
                f"s{i}_width": st.width // (n * n) if first_s2d else st.width,
            }
        )
        if layout.act_groups is None:
            p[f"s{i}_act"] = st.act
    for g, grp in enumerate(layout.act_groups or ()):
        p[f"g{g + 1}_act"] = stages[list(_B0).index(grp[0])].act
    return p
