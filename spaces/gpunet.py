"""GPUNet: the GPU-oriented space of Wang et al. (NVIDIA, CVPR 2022), Table 1, and GPUNet-0/1/2.

Eight stages; the layers of a stage share one configuration, the first carries the stride:

=====  ==========  ======  =======  ========  =====  =========  ==================  =====
stage  type        stride  kernel   #layers   act    expansion  filters (lo-hi/step) SE
=====  ==========  ======  =======  ========  =====  =========  ==================  =====
0      conv        2       3, 5     1         R, S   -          24-32 / 8           -
1      conv        1       (0's)    1-4       (0's)  -          (0's)               -
2      fused-IRB   2       3, 5     1-8       R, S   2-6        32-80 / 16          0, 1
3      fused-IRB   2       3, 5     1-8       R, S   2-6        48-112 / 16         0, 1
4      IRB         2       3, 5     1-10      R, S   2-6        96-192 / 16         0, 1
5      IRB         1       3, 5     0-15      R, S   2-6        112-224 / 16        0, 1
6      IRB         2       3, 5     1-15      R, S   2-6        128-416 / 32        0, 1
7      IRB         1       3, 5     0-15      R, S   2-6        256-832 / 64        0, 1
8      conv 1×1 1792, pool, FC
=====  ==========  ======  =======  ========  =====  =========  ==================  =====

Resolution 224-512 step 32 (so ``resolution_multiple`` is 32).

**The 41-integer encoding** (:meth:`GPUNetSpace.encode_vector`, :data:`VECTOR_LAYOUT`):
``[resolution, s0 filters, s0 kernel, s0 act, s1 layers]`` followed, for stages 2..7, by
``[layers, filters, kernel, expansion, act, se]`` — 5 + 6 × 6 = 41 integers. Numbers are the
values themselves (filters 32, kernel 5, ...); ``act`` is 0 = ReLU, 1 = swish; ``se`` is 0/1.
Stage 1 continues stage 0's convolution (the same filters, kernel and activation, as in every
published GPUNet, whose stage-1 convs keep the stem's filters) and adds its layer count; this
is how the two "head" stages fit the 41 integers. (The paper's Table 2 column order was not
available to us; the layout is ours, the content is Table 1's.)

Blocks (NVIDIA's ``gpunet_modules``, which are timm's): IRB = timm ``InvertedResidual``
(``mbconv`` stages), fused-IRB = timm ``EdgeResidual`` (``fused`` stages); expansion is
relative to the block input, SE reduce width = input channels / 4 (``se=0.25``).

References GPUNet-0/1/2 are NVIDIA's layer lists (DeepLearningExamples, GPUNet
``configs/batch1/GV100/0.65ms.json``, ``0.85ms.json``, ``1.75ms.json``, Apache-2.0)
transcribed below as data. They lie partly outside Table 1 (GPUNet-0's stage 4 has 256
filters, every tail has 1280, not 1792), so they are ``Arch``s, not points of the space.
Measured (tests/spaces/test_gpunet.py): 11.89 M / 12.70 M / 25.80 M parameters and
3.31 / 3.38 / 8.71 G multiply-adds at 320 / 288 / 384 px, the published sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ArchError, ConfigError
from accelsearch.spaces.base import SearchSpace
from accelsearch.spaces.constraints import FixedStrides, MultipleOf, ResolutionMultiple
from accelsearch.spaces.distributions import Categorical, IntRange, Ordinal
from accelsearch.spaces.efficientnet_x import round_filters
from accelsearch.spaces.layer_terms import GPUNetLayout, Term, gpunet_terms
from accelsearch.spaces.registry import register_space


@dataclass(frozen=True)
class _StageRange:
    type: str
    stride: int
    layers: tuple[int, int]
    filters: tuple[int, int, int]  # low, high, step


#: Table 1, stages 2-7
STAGES: dict[int, _StageRange] = {
    2: _StageRange("fused", 2, (1, 8), (32, 80, 16)),
    3: _StageRange("fused", 2, (1, 8), (48, 112, 16)),
    4: _StageRange("mbconv", 2, (1, 10), (96, 192, 16)),
    5: _StageRange("mbconv", 1, (0, 15), (112, 224, 16)),
    6: _StageRange("mbconv", 2, (1, 15), (128, 416, 32)),
    7: _StageRange("mbconv", 1, (0, 15), (256, 832, 64)),
}
STEM_FILTERS = (24, 32, 8)
STAGE1_LAYERS = (1, 4)
KERNELS = (3, 5)
ACTS = ("relu", "swish")
EXPANSIONS = (2, 6)
HEAD_WIDTH = 1792
HEAD_DROPOUT = 0.2
RESOLUTIONS = (224, 512, 32)
SE_RATIO = 0.25  # reduce width = block input / 4

_STAGE_FIELDS = ("layers", "filters", "kernel", "expansion", "act", "se")
#: parameter names in the order of the 41-integer vector
VECTOR_LAYOUT: tuple[str, ...] = (
    "resolution",
    "s0_filters",
    "s0_kernel",
    "s0_act",
    "s1_layers",
    *(f"s{i}_{f}" for i in STAGES for f in _STAGE_FIELDS),
)

#: GPUNet-0/1/2 transcribed from NVIDIA's layer lists (see the module docstring): input
#: resolution, stem (head) filters, tail width, and per stage (layers, filters, kernel,
#: expansion, act, se). Stage 1 is a plain conv (expansion 1, no SE); a stage missing from
#: a list has 0 layers. The stem is NVIDIA's Prologue: conv 3×3 stride 2 with its default
#: activation (swish).
REFERENCES: dict[str, dict[str, Any]] = {
    "gpunet-0": {
        "resolution": 320,
        "stem": 32,
        "tail": 1280,
        "stages": {
            1: (2, 32, 3, 1, "relu", 0),
            2: (2, 32, 3, 5, "relu", 0),
            3: (3, 64, 3, 5, "relu", 0),
            4: (3, 256, 3, 5, "swish", 0),
            6: (2, 704, 3, 5, "relu", 1),
        },
    },
    "gpunet-1": {
        "resolution": 288,
        "stem": 24,
        "tail": 1280,
        "stages": {
            1: (1, 24, 3, 1, "relu", 0),
            2: (2, 64, 3, 4, "swish", 0),
            3: (2, 96, 3, 4, "swish", 0),
            4: (1, 160, 3, 2, "swish", 1),
            5: (4, 288, 3, 5, "relu", 0),
            6: (4, 448, 3, 4, "relu", 1),
        },
    },
    "gpunet-2": {
        "resolution": 384,
        "stem": 32,
        "tail": 1280,
        "stages": {
            1: (3, 32, 3, 1, "relu", 0),
            2: (1, 32, 5, 6, "swish", 1),
            3: (3, 112, 3, 3, "swish", 0),
            4: (6, 144, 3, 6, "swish", 0),
            5: (4, 160, 5, 3, "relu", 0),
            6: (8, 224, 3, 3, "swish", 1),
            7: (7, 832, 5, 2, "relu", 0),
        },
    },
}
#: published sizes (1000 classes): params, multiply-adds at the reference resolution
PUBLISHED = {
    "gpunet-0": (11.9e6, 3.31e9),
    "gpunet-1": (12.7e6, 3.38e9),
    "gpunet-2": (25.8e6, 8.71e9),
}


def _ints(lo: int, hi: int, step: int = 1) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1, step))


@register_space("gpunet")
class GPUNetSpace(SearchSpace):
    """GPUNet's Table 1 space (Wang et al., CVPR'22) with the 41-integer encoding.

    Options (defaults give exactly Table 1): ``resolutions`` (allowed input sizes, multiples
    of 32), ``width_mult`` (scales every filter range, rounded to multiples of 8) and
    ``max_layers`` (caps every layer range) make small variants for tests and laptops.
    """

    source = "Wang et al., GPUNet: Searching the Deployable Convolution Neural Networks for GPUs, CVPR 2022, Table 1"
    resolution_multiple = 32
    constraints = (
        ResolutionMultiple(32),
        FixedStrides([1] + [r.stride for r in STAGES.values()], stem=2),
        MultipleOf("width", 8),
    )

    def __init__(
        self,
        *,
        resolutions: Sequence[int] | None = None,
        width_mult: float = 1.0,
        max_layers: int | None = None,
    ) -> None:
        res = tuple(sorted(set(resolutions))) if resolutions else _ints(*RESOLUTIONS)
        bad = [r for r in res if int(r) != r or r <= 0 or r % self.resolution_multiple]
        if bad:
            raise ConfigError(
                f"gpunet option resolutions has {bad}; GPUNet resolutions are positive "
                f"multiples of {self.resolution_multiple} (the paper uses 224-512 step 32)"
            )
        if not (isinstance(width_mult, (int, float)) and width_mult > 0):
            raise ConfigError(f"gpunet option width_mult must be > 0, got {width_mult!r}")
        if max_layers is not None and (not isinstance(max_layers, int) or max_layers < 1):
            raise ConfigError(
                f"gpunet option max_layers must be an integer >= 1, got {max_layers!r}"
            )
        self.resolutions = tuple(int(r) for r in res)
        self.width_mult = float(width_mult)
        self.max_layers = max_layers

    # -- declaration --------------------------------------------------------------------------
    def _filters(self, lo: int, hi: int, step: int) -> IntRange | Ordinal:
        if self.width_mult == 1.0:
            return IntRange(lo, hi, step)
        return Ordinal(
            tuple(sorted({round_filters(f, self.width_mult) for f in _ints(lo, hi, step)}))
        )

    def _layers(self, lo: int, hi: int) -> IntRange:
        if self.max_layers is not None:
            hi = max(lo, min(hi, self.max_layers))
        return IntRange(lo, hi)

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {
            "resolution": Ordinal(self.resolutions),
            "s0_filters": self._filters(*STEM_FILTERS),
            "s0_kernel": Ordinal(KERNELS),
            "s0_act": Categorical(ACTS),
            "s1_layers": self._layers(*STAGE1_LAYERS),
        }
        for i, rng in STAGES.items():
            p[f"s{i}_layers"] = self._layers(*rng.layers)
            p[f"s{i}_filters"] = self._filters(*rng.filters)
            p[f"s{i}_kernel"] = Ordinal(KERNELS)
            p[f"s{i}_expansion"] = IntRange(*EXPANSIONS)
            p[f"s{i}_act"] = Categorical(ACTS)
            p[f"s{i}_se"] = Categorical((0, 1))
        return p

    def size(self) -> int:
        """Distinct networks: a stage with 0 layers hides its other choices."""
        p = self.params()
        total = math.prod(
            len(p[name].values())
            for name in ("resolution", "s0_filters", "s0_kernel", "s0_act", "s1_layers")
        )
        for i in STAGES:
            others = math.prod(len(p[f"s{i}_{f}"].values()) for f in _STAGE_FIELDS[1:])
            total *= sum(1 if n == 0 else others for n in p[f"s{i}_layers"].values())
        return total

    # -- params <-> Arch ----------------------------------------------------------------------
    def lut_terms(self) -> list[Term]:
        """Stem, stage 1, stages 2-7 scaled by their layers, head (:mod:`.layer_terms`)."""
        return gpunet_terms(GPUNetLayout(STAGES, HEAD_WIDTH, SE_RATIO))

    def decode(self, params: dict[str, Any]) -> Arch:
        self.validate_params(params)
        return self.checked(_arch_from_params(params))

    def encode(self, arch: Arch) -> dict[str, Any]:
        params = _params_from_arch(arch)
        try:
            self.validate_params(params)
        except ConfigError as exc:
            raise ArchError(f"arch is not a point of this gpunet space: {exc}") from None
        if _arch_from_params(params) != arch:
            raise ArchError(
                "arch is not a point of this gpunet space: decoding its parameters gives a "
                "different arch (check the head width 1792, dropout 0.2 and that stage 1 "
                "repeats the stem's filters, kernel and activation)"
            )
        return params

    # -- the 41-integer vector ----------------------------------------------------------------
    def params_to_vector(self, params: dict[str, Any]) -> list[int]:
        self.validate_params(params)
        return [_to_int(name, params[name]) for name in VECTOR_LAYOUT]

    def vector_to_params(self, vector: Sequence[int]) -> dict[str, Any]:
        vec = list(vector)
        if len(vec) != len(VECTOR_LAYOUT):
            raise ConfigError(
                f"a GPUNet encoding has {len(VECTOR_LAYOUT)} integers, got {len(vec)}; "
                f"layout: {', '.join(VECTOR_LAYOUT)}"
            )
        params = {name: _from_int(name, v) for name, v in zip(VECTOR_LAYOUT, vec)}
        self.validate_params(params)
        return params

    def encode_vector(self, arch: Arch) -> list[int]:
        """``Arch`` -> the 41 integers (see :data:`VECTOR_LAYOUT`)."""
        return self.params_to_vector(self.encode(arch))

    def decode_vector(self, vector: Sequence[int]) -> Arch:
        """The 41 integers -> ``Arch``; out-of-range entries fail naming the stage and field."""
        return self.decode(self.vector_to_params(vector))

    # -- references ---------------------------------------------------------------------------
    def references(self) -> dict[str, Callable[[], Arch]]:
        return {name: (lambda n=name: reference_arch(n)) for name in REFERENCES}


def _to_int(name: str, value: Any) -> int:
    if name.endswith("_act"):
        return ACTS.index(value)
    return int(value)


def _from_int(name: str, value: Any) -> Any:
    if isinstance(value, bool) or int(value) != value:
        raise ConfigError(f"GPUNet encoding entry {name!r} must be an integer, got {value!r}")
    value = int(value)
    if name.endswith("_act"):
        if value not in (0, 1):
            raise ConfigError(
                f"GPUNet encoding entry {name!r} is {value}; activations are 0 (relu) or 1 (swish)"
            )
        return ACTS[value]
    return value


def _arch_from_params(p: dict[str, Any]) -> Arch:
    f0, k0, a0 = int(p["s0_filters"]), int(p["s0_kernel"]), p["s0_act"]
    stages = [Stage("conv", width=f0, depth=int(p["s1_layers"]), kernel=k0, stride=1, act=a0)]
    for i, rng in STAGES.items():
        stages.append(
            Stage(
                rng.type,
                width=int(p[f"s{i}_filters"]),
                depth=int(p[f"s{i}_layers"]),
                kernel=int(p[f"s{i}_kernel"]),
                stride=rng.stride,
                expansion=float(p[f"s{i}_expansion"]),
                se=SE_RATIO if int(p[f"s{i}_se"]) else 0.0,
                act=p[f"s{i}_act"],
            )
        )
    return Arch(
        resolution=int(p["resolution"]),
        stem=Stage("conv", width=f0, kernel=k0, stride=2, act=a0),
        stages=tuple(stages),
        head=Head(width=HEAD_WIDTH, act="relu", dropout=HEAD_DROPOUT),
    )


def _params_from_arch(arch: Arch) -> dict[str, Any]:
    stem, stages = arch.stem, list(arch.stages)
    expected = ["conv"] + [r.type for r in STAGES.values()]
    if stem is None or stem.type != "conv" or [st.type for st in stages] != expected:
        raise ArchError(
            "arch is not a GPUNet: it needs a 'conv' stem and stages of types "
            f"{expected}, got stem {stem.type if stem else None!r} and "
            f"{[st.type for st in stages]}"
        )
    p: dict[str, Any] = {
        "resolution": arch.resolution,
        "s0_filters": stem.width,
        "s0_kernel": stem.kernel,
        "s0_act": stem.act,
        "s1_layers": stages[0].depth,
    }
    for i, st in zip(STAGES, stages[1:]):
        p.update(
            {
                f"s{i}_layers": st.depth,
                f"s{i}_filters": st.width,
                f"s{i}_kernel": st.kernel,
                f"s{i}_expansion": int(st.expansion)
                if float(st.expansion).is_integer()
                else st.expansion,
                f"s{i}_act": st.act,
                f"s{i}_se": 1 if st.se else 0,
            }
        )
    return p


def reference_arch(name: str) -> Arch:
    """GPUNet-0/1/2 as ``Arch``s (NVIDIA's layer lists, transcribed in :data:`REFERENCES`)."""
    ref = REFERENCES[name]
    rows = ref["stages"]
    stages = []
    prev_width = ref["stem"]
    for i in range(1, 8):
        if i in rows:
            layers, width, kernel, expansion, act, se = rows[i]
        else:  # an empty stage: passes its input through
            layers, width, kernel, expansion, act, se = 0, prev_width, 3, 2, "relu", 0
        if i == 1:
            stages.append(Stage("conv", width=width, depth=layers, kernel=kernel, act=act))
        else:
            stages.append(
                Stage(
                    STAGES[i].type,
                    width=width,
                    depth=layers,
                    kernel=kernel,
                    stride=STAGES[i].stride,
                    expansion=float(expansion),
                    se=SE_RATIO if se else 0.0,
                    act=act,
                )
            )
        prev_width = width
    return Arch(
        resolution=ref["resolution"],
        stem=Stage("conv", width=ref["stem"], kernel=3, stride=2, act="swish"),
        stages=tuple(stages),
        head=Head(width=ref["tail"], act="relu", dropout=HEAD_DROPOUT),
    )
