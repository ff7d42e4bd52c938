"""GENet: GPU-Efficient Networks (Lin et al., 2020), super-blocks XX / BL / DW, Table 2.

A GENet is a conv stem, five super-blocks and a 1×1 conv head. A super-block is ``d`` blocks
of one type, ``c`` output channels, kernel ``k``, bottleneck ratio ``r``; the first block
carries the stride; every block is residual (1×1 projection shortcut where shapes change):

* ``xx`` — two full k×k convs (timm byobnet ``BasicBlock``);
* ``bl`` — bottleneck 1×1 → k×k → 1×1 with ``r`` ≤ 1 (timm ``BottleneckBlock``);
* ``dw`` — inverted bottleneck 1×1 expand → depthwise k×k → 1×1 with ``r`` ≥ 1: timm's
  ``BottleneckBlock`` with ``group_size=1`` (a depthwise middle conv). byobnet has no block
  named for it, but this is exactly GENet's DW and how timm's own ``gernet_*`` models build
  it; ``EdgeBlock`` (k×k then 1×1) and ``DarkBlock`` (1×1 then k×k) have the wrong shape.

``Stage.expansion`` holds GENet's ``r`` **relative to the block's output channels** (GENet's
and timm byobnet's ``bottle_ratio`` convention), unlike ``mbconv`` whose expansion is
relative to the input; ``xx`` blocks use r = 1.

The space (GENet §4.2, LLR-NAS) is centred on one published structure (``base``: light,
normal or large) and exposes, per super-block ``b1``..``b5``: ``depth`` in [d-2, d+2],
``width`` in [c/2, 2c] step 8, ``kernel`` {3, 5} and ``ratio`` (BL {0.25, 0.5}, DW
{3, 6, 9}; XX has none); plus ``resolution`` {192, 224, 256}. Stem and head stay those of
``base``. :meth:`GENetSpace.stage_params` names each super-block's parameters, which is what
the LLR search perturbs.

Measured (tests/spaces/test_genet.py): light 8.17 M params / 0.547 G multiply-adds at 192 px,
normal 21.14 M / 2.21 G at 192, large 31.08 M / 4.56 G at 256 — the paper's 8.17 M / 21 M /
31 M and 0.552 / 2.2 / 4.6 G — and exactly timm's ``gernet_s/m/l`` (same params and MACs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.blocks import BuildContext, register_block
from accelsearch.core.errors import ArchError, ConfigError, choices_text
from accelsearch.spaces.base import SearchSpace
from accelsearch.spaces.constraints import FixedStrides, MultipleOf
from accelsearch.spaces.distributions import IntRange, Ordinal
from accelsearch.spaces.registry import register_space

BLOCK_TYPES = ("xx", "bl", "dw")
RATIOS = {"xx": (1.0,), "bl": (0.25, 0.5), "dw": (3.0, 6.0, 9.0)}
KERNELS = (3, 5)
RESOLUTIONS = (192, 224, 256)
DEPTH_DELTA = 2
WIDTH_STEP = 8


@dataclass(frozen=True)
class SuperBlock:
    """One row of GENet's Table 2."""

    type: str
    depth: int
    width: int
    stride: int
    kernel: int
    ratio: float


@dataclass(frozen=True)
class GENetStructure:
    stem: int
    blocks: tuple[SuperBlock, ...]
    head: int
    resolution: int


#: GENet Table 2 (see shared/data/README.md): stem conv, five super-blocks, head conv 1×1.
STRUCTURES: dict[str, GENetStructure] = {
    "light": GENetStructure(
        13,
        (
            SuperBlock("xx", 1, 48, 2, 3, 1),
            SuperBlock("xx", 3, 48, 2, 3, 1),
            SuperBlock("bl", 7, 384, 2, 3, 0.25),
            SuperBlock("dw", 2, 560, 2, 3, 3),
            SuperBlock("dw", 1, 256, 1, 3, 3),
        ),
        1920,
        192,
    ),
    "normal": GENetStructure(
        32,
        (
            SuperBlock("xx", 1, 128, 2, 3, 1),
            SuperBlock("xx", 2, 192, 2, 3, 1),
            SuperBlock("bl", 6, 640, 2, 3, 0.25),
            SuperBlock("dw", 4, 640, 2, 3, 3),
            SuperBlock("dw", 1, 640, 1, 3, 3),
        ),
        2560,
        192,
    ),
    "large": GENetStructure(
        32,
        (
            SuperBlock("xx", 1, 128, 2, 3, 1),
            SuperBlock("xx", 2, 192, 2, 3, 1),
            SuperBlock("bl", 6, 640, 2, 3, 0.25),
            SuperBlock("dw", 5, 640, 2, 3, 3),
            SuperBlock("dw", 4, 640, 1, 3, 3),
        ),
        2560,
        256,
    ),
}
#: published sizes (1000 classes): params, multiply-adds at the structure's resolution
PUBLISHED = {
    "genet-light": (8.17e6, 0.552e9),
    "genet-normal": (21e6, 2.2e9),
    "genet-large": (31e6, 4.6e9),
}
#: timm models that implement the same networks (cross-check)
TIMM_EQUIVALENTS = {
    "genet-light": "gernet_s",
    "genet-normal": "gernet_m",
    "genet-large": "gernet_l",
}


# -- blocks (timm byobnet) ----------------------------------------------------------------------
def _layer_fns(act: str):
    from timm.models.byobnet import ByoModelCfg, get_layer_fns

    return get_layer_fns(ByoModelCfg(blocks=(), act_layer=act))


def _byob_stage(kind: str) -> Callable[[Stage, int, BuildContext], tuple[list[nn.Module], int]]:
    def build(stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[nn.Module], int]:
        from timm.models.byobnet import BasicBlock, BottleneckBlock

        if kind == "xx" and stage.expansion != 1.0:
            raise ArchError(
                f"Stage('xx').expansion must be 1 (two full convs), got {stage.expansion}"
            )
        layers = _layer_fns("identity" if stage.act == "none" else stage.act)
        mods: list[nn.Module] = []
        for i in range(stage.depth):
            common = dict(
                in_chs=in_chs,
                out_chs=stage.width,
                kernel_size=stage.kernel,
                stride=stage.stride if i == 0 else 1,
                bottle_ratio=stage.expansion,
                downsample="conv1x1",
                layers=layers,
                drop_path_rate=ctx.next_drop_path(),
            )
            if kind == "xx":
                mods.append(BasicBlock(**common))
            else:
                mods.append(BottleneckBlock(group_size=1 if kind == "dw" else None, **common))
            in_chs = stage.width
        return mods, in_chs

    build.__doc__ = f"GENet {kind.upper()} super-block of timm byobnet blocks."
    return build


for _kind in BLOCK_TYPES:
    register_block(_kind)(_byob_stage(_kind))


# -- Archs ---------------------------------------------------------------------------------------
def structure_arch(structure: GENetStructure, resolution: int | None = None) -> Arch:
    return Arch(
        resolution=resolution or structure.resolution,
        stem=Stage("conv", width=structure.stem, kernel=3, stride=2, act="relu"),
        stages=tuple(
            Stage(
                b.type,
                width=b.width,
                depth=b.depth,
                kernel=b.kernel,
                stride=b.stride,
                expansion=float(b.ratio),
                act="relu",
            )
            for b in structure.blocks
        ),
        head=Head(width=structure.head, act="relu", dropout=0.0),
    )


def reference_arch(name: str) -> Arch:
    return structure_arch(STRUCTURES[name.removeprefix("genet-")])


@register_space("genet")
class GENetSpace(SearchSpace):
    """GENet super-blocks XX / BL / DW (Lin et al., Table 2 and §4.2 LLR-NAS ranges).

    Options: ``base`` (``"light"``, ``"normal"`` or ``"large"``: the structure the ranges
    are centred on, its stem and head), ``types`` (five super-block types; default those of
    ``base``: XX, XX, BL, DW, DW), ``resolutions``, ``depth_delta`` (2), ``width_range``
    ((0.5, 2.0) of the base width), ``width_step`` (8), ``kernels``, ``width_mult``
    (multiplies the base widths, stem and head before the ranges are taken: small
    variants for tests).
    """

    source = (
        "Lin et al., Neural Architecture Design for GPU-Efficient Networks, 2020, Table 2 and §4.2"
    )
    resolution_multiple = 32

    def __init__(
        self,
        *,
        base: str = "normal",
        types: Sequence[str] | None = None,
        resolutions: Sequence[int] = RESOLUTIONS,
        depth_delta: int = DEPTH_DELTA,
        width_range: tuple[float, float] = (0.5, 2.0),
        width_step: int = WIDTH_STEP,
        kernels: Sequence[int] = KERNELS,
        width_mult: float = 1.0,
    ) -> None:
        if base not in STRUCTURES:
            raise ConfigError(
                f"genet option base is {base!r}; valid choices: {choices_text(STRUCTURES)}"
            )
        structure = STRUCTURES[base]
        types = tuple(types) if types is not None else tuple(b.type for b in structure.blocks)
        if len(types) != len(structure.blocks) or any(t not in BLOCK_TYPES for t in types):
            raise ConfigError(
                f"genet option types must be {len(structure.blocks)} of {choices_text(BLOCK_TYPES)}, got {list(types)}"
            )
        lo, hi = width_range
        if not 0 < lo <= 1 <= hi:
            raise ConfigError(
                f"genet option width_range must satisfy 0 < low <= 1 <= high, got {width_range}"
            )
        if width_step < 1 or depth_delta < 0 or width_mult <= 0:
            raise ConfigError(
                "genet options width_step >= 1, depth_delta >= 0 and width_mult > 0 are required"
            )
        if not kernels or any(k % 2 == 0 for k in kernels):
            raise ConfigError(f"genet option kernels must be odd sizes, got {list(kernels)}")
        self.base = base
        self.types = types
        self.resolutions = tuple(sorted(int(r) for r in resolutions))
        self.depth_delta = int(depth_delta)
        self.width_range = (float(lo), float(hi))
        self.width_step = int(width_step)
        self.kernels = tuple(sorted(int(k) for k in kernels))
        self.width_mult = float(width_mult)
        step = self.width_step
        self.stem_width = max(8, _round_to(structure.stem * width_mult, 1))
        self.head_width = _round_to(structure.head * width_mult, step)
        self.constraints = (
            FixedStrides([b.stride for b in structure.blocks], stem=2),
            MultipleOf("width", step, include_stem=False),
        )
        self.centre = tuple(
            SuperBlock(
                t,
                b.depth,
                _round_to(b.width * width_mult, step),
                b.stride,
                b.kernel,
                b.ratio if t == b.type else RATIOS[t][0],
            )
            for t, b in zip(types, structure.blocks)
        )

    # -- declaration --------------------------------------------------------------------------
    def stage_params(self) -> dict[int, dict[str, str]]:
        """Per super-block (1..5): field (depth, width, kernel, ratio) -> parameter name."""
        out = {}
        for i, b in enumerate(self.centre, start=1):
            fields = ("depth", "width", "kernel") + (("ratio",) if b.type != "xx" else ())
            out[i] = {f: f"b{i}_{f}" for f in fields}
        return out

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"resolution": Ordinal(self.resolutions)}
        lo_w, hi_w = self.width_range
        step = self.width_step
        for i, b in enumerate(self.centre, start=1):
            lo = max(step, _ceil_to(b.width * lo_w, step))
            hi = max(lo, _floor_to(b.width * hi_w, step))
            widths = sorted(set(range(lo, hi + 1, step)) | {b.width})
            p[f"b{i}_depth"] = IntRange(
                max(1, b.depth - self.depth_delta), b.depth + self.depth_delta
            )
            p[f"b{i}_width"] = (
                IntRange(lo, hi, step) if b.width % step == 0 else Ordinal(tuple(widths))
            )
            p[f"b{i}_kernel"] = Ordinal(self.kernels)
            if b.type != "xx":
                p[f"b{i}_ratio"] = Ordinal(RATIOS[b.type])
        return p

    def decode(self, params: dict[str, Any]) -> Arch:
        self.validate_params(params)
        stages = []
        for i, b in enumerate(self.centre, start=1):
            stages.append(
                Stage(
                    b.type,
                    width=int(params[f"b{i}_width"]),
                    depth=int(params[f"b{i}_depth"]),
                    kernel=int(params[f"b{i}_kernel"]),
                    stride=b.stride,
                    expansion=float(params.get(f"b{i}_ratio", 1.0)),
                    act="relu",
                )
            )
        arch = Arch(
            resolution=int(params["resolution"]),
            stem=Stage("conv", width=self.stem_width, kernel=3, stride=2, act="relu"),
            stages=tuple(stages),
            head=Head(width=self.head_width, act="relu", dropout=0.0),
        )
        return self.checked(arch)

    def encode(self, arch: Arch) -> dict[str, Any]:
        types = tuple(st.type for st in arch.stages)
        if types != tuple(b.type for b in self.centre):
            raise ArchError(
                f"arch is not a point of this genet space: its super-block types are {list(types)}, "
                f"the space's are {[b.type for b in self.centre]}"
            )
        params: dict[str, Any] = {"resolution": arch.resolution}
        for i, (st, b) in enumerate(zip(arch.stages, self.centre), start=1):
            params.update(
                {f"b{i}_depth": st.depth, f"b{i}_width": st.width, f"b{i}_kernel": st.kernel}
            )
            if b.type != "xx":
                params[f"b{i}_ratio"] = st.expansion
        try:
            self.validate_params(params)
        except ConfigError as exc:
            raise ArchError(f"arch is not a point of this genet space: {exc}") from None
        if self.decode(params) != arch:
            raise ArchError(
                "arch is not a point of this genet space: decoding its parameters gives a "
                f"different arch (stem {self.stem_width}, head {self.head_width}, strides "
                f"{[b.stride for b in self.centre]}, ReLU)"
            )
        return params

    def references(self) -> dict[str, Callable[[], Arch]]:
        return {f"genet-{name}": (lambda n=name: reference_arch(n)) for name in STRUCTURES}


def _round_to(x: float, step: int) -> int:
    return max(step, int(round(x / step)) * step)


def _ceil_to(x: float, step: int) -> int:
    return -(-int(round(x)) // step) * step


def _floor_to(x: float, step: int) -> int:
    return int(x) // step * step
