"""EfficientNet-X: the accelerator-optimised space of Li et al. (CVPR 2021), §3 and Table 1.

The space keeps EfficientNet-X-B0's skeleton (stem, optional space-to-depth, stages 3-9 of
the paper's Table 1, head) and searches, per stage: plain vs fused MBConv, kernel, expansion,
squeeze-excite ratio, activation, depth and width; globally: resolution and whether the
space-to-depth conv replaces the stride of stage 4.

The parameters' mapping to an ``Arch`` (how Google's ``efficientnet_x_builder.py`` decodes and
how it is reconciled with Table 1), the B0 reference and the reference archs live in
:mod:`.efficientnet_x_codec`; its public names are re-exported here.

Measured (tests/spaces/test_efficientnet_x.py): 7.58 M parameters at 1000 classes and
0.92 G multiply-adds at 224 px, against the published 7.6 M / 0.91 G.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accelsearch.core.arch import Arch, Stage
from accelsearch.core.blocks import BuildContext, ChainState, register_block, where
from accelsearch.core.builder import act_layer, pad_for
from accelsearch.core.errors import ArchError, ConfigError
from accelsearch.spaces.base import SearchSpace
from accelsearch.spaces.constraints import MultipleOf
from accelsearch.spaces.distributions import Categorical, IntRange, Ordinal
from accelsearch.spaces.efficientnet_x_codec import (
    _B0,
    _check_groups,
    _decode,
    _encode,
    _Layout,
    _s2d_kernel,
)
from accelsearch.spaces.efficientnet_x_codec import REFERENCE_COEFFICIENTS as REFERENCE_COEFFICIENTS
from accelsearch.spaces.efficientnet_x_codec import STAGES as STAGES
from accelsearch.spaces.efficientnet_x_codec import reference_arch as reference_arch
from accelsearch.spaces.efficientnet_x_codec import reference_params as reference_params
from accelsearch.spaces.efficientnet_x_codec import round_filters as round_filters
from accelsearch.spaces.layer_terms import Term, efficientnet_x_terms
from accelsearch.spaces.registry import register_space

# the `X as X` imports re-export names importable from here before .efficientnet_x_codec was
# split off (efficientnet.py, gpunet.py and tests import them from this module)


def _s2b_rule(stage: Stage, state: ChainState) -> tuple[int, int]:
    if state.size % stage.stride:
        raise ArchError(
            f"{where(state.index, stage)} field 'stride' is {stage.stride}: the image "
            f"({state.size}×{state.size}) must divide into {stage.stride}×{stage.stride} blocks"
        )
    return stage.width, state.size // stage.stride


@register_block("s2bstem", chain=_s2b_rule, fixed_depth=True)
def _space_to_batch_stem(stage: Stage, in_chs: int, ctx: BuildContext):
    """Stem on a rearranged image: n×n pixel blocks moved into channels (parameter-free,
    ``nn.PixelUnshuffle(n)``), then a k×k stride-1 conv + BN + act. Same output shape as a
    stride-n stem conv, with denser work for the accelerator."""
    from timm.models._efficientnet_blocks import ConvBnAct
    from torch import nn

    n = stage.stride
    if n < 2 or stage.depth != 1:
        raise ArchError(
            f"Stage('s2bstem') needs stride (the block size n) >= 2 and depth 1, got "
            f"stride {stage.stride}, depth {stage.depth}"
        )
    ctx.next_drop_path()
    conv = ConvBnAct(
        in_chs * n * n,
        stage.width,
        stage.kernel,
        stride=1,
        pad_type=pad_for(stage.kernel, 1),
        act_layer=act_layer(stage.act),
    )
    return [nn.Sequential(nn.PixelUnshuffle(n), conv)], stage.width


@register_space("efficientnet_x")
class EfficientNetXSpace(SearchSpace):
    """EfficientNet-X (Li et al., CVPR'21 §3, Table 1): fused/plain MBConv hybrid with
    optional space-to-depth, per-stage kernel, expansion, SE, activation, depth, width.

    Options (all keyword): ``width_mult`` scales every width (0.25 makes laptop-sized
    models), ``resolutions``, ``depth_deltas`` (added to the reference depth),
    ``width_choices`` (multipliers of the reference width), ``kernels``, ``expansions``,
    ``se_choices``, ``acts``, ``block_types``, ``space_to_depth`` (allowed values).
    """

    source = "Li et al., Searching for Fast Model Families on Datacenter Accelerators, CVPR 2021, §3 and Table 1"
    constraints = (MultipleOf("width", 8),)

    def __init__(
        self,
        *,
        width_mult: float = 1.0,
        resolutions: tuple[int, ...] = (192, 224, 256, 288),
        depth_deltas: tuple[int, ...] = (-1, 0, 1),
        width_choices: tuple[float, ...] = (0.75, 1.0, 1.25),
        kernels: tuple[int, ...] = (3, 5),
        expansions: tuple[float, ...] = (1, 4, 6),
        se_choices: tuple[float, ...] = (0.0, 0.25, 1.0),
        acts: tuple[str, ...] = ("relu", "swish"),
        block_types: tuple[str, ...] = ("mbconv", "fused"),
        space_to_depth: tuple[bool, ...] = (True, False),
        head_dropout: float = 0.2,
        space_to_depth_size: int = 2,
        space_to_batch: tuple[bool, ...] = (False,),
        act_groups: tuple[tuple[int, ...], ...] | None = None,
    ) -> None:
        if width_mult <= 0:
            raise ConfigError(f"efficientnet_x option width_mult must be > 0, got {width_mult}")
        bad_k = [k for k in kernels if k % 2 == 0 or k < 1]
        if bad_k:
            raise ConfigError(f"efficientnet_x option kernels must be odd, got {bad_k}")
        bad_t = [t for t in block_types if t not in ("mbconv", "fused")]
        if bad_t:
            raise ConfigError(
                f"efficientnet_x option block_types has {bad_t}; valid: 'mbconv', 'fused'"
            )
        if not depth_deltas or not width_choices:
            raise ConfigError("efficientnet_x options depth_deltas and width_choices need values")
        self.width_mult = float(width_mult)
        self.resolutions = tuple(sorted(int(r) for r in resolutions))
        self.depth_deltas = tuple(sorted(set(int(d) for d in depth_deltas)))
        self.width_choices = tuple(sorted(float(w) for w in width_choices))
        self.kernels = tuple(kernels)
        self.expansions = tuple(float(e) for e in expansions)
        self.se_choices = tuple(float(s) for s in se_choices)
        self.acts = tuple(acts)
        self.block_types = tuple(block_types)
        self.space_to_depth = tuple(bool(s) for s in space_to_depth)
        self.head_dropout = float(head_dropout)
        if space_to_depth_size not in (2, 4):
            raise ConfigError(
                f"efficientnet_x option space_to_depth_size is {space_to_depth_size!r}; valid: 2, 4"
            )
        reduced = [_s2d_kernel(k, space_to_depth_size) for k in self.kernels]
        if len(set(reduced)) != len(reduced):
            raise ConfigError(
                f"efficientnet_x: kernels {list(self.kernels)} are not distinguishable after a "
                f"{space_to_depth_size}×{space_to_depth_size} space-to-depth (they all become "
                f"{reduced}); drop some kernels or use space_to_depth_size=2"
            )
        self.s2d_size = int(space_to_depth_size)
        if not space_to_batch:
            raise ConfigError("efficientnet_x option space_to_batch needs at least one value")
        self.space_to_batch = tuple(bool(s) for s in space_to_batch)
        self.act_groups = _check_groups(act_groups)

    # -- declaration ---------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {
            "resolution": Ordinal(self.resolutions),
            "space_to_depth": Categorical(self.space_to_depth),
        }
        if len(self.space_to_batch) > 1:
            p["space_to_batch"] = Categorical(self.space_to_batch)
        for i, ref in _B0.items():
            lo = max(1, ref.depth + self.depth_deltas[0])
            hi = max(lo, ref.depth + self.depth_deltas[-1])
            p[f"s{i}_type"] = Categorical(self.block_types)
            p[f"s{i}_kernel"] = Categorical(self.kernels)
            p[f"s{i}_expansion"] = Categorical(self.expansions)
            p[f"s{i}_se"] = Categorical(self.se_choices)
            if self.act_groups is None:
                p[f"s{i}_act"] = Categorical(self.acts)
            p[f"s{i}_depth"] = IntRange(lo, hi)
            p[f"s{i}_width"] = Ordinal(self.stage_widths(i))
        for g in range(len(self.act_groups or ())):
            p[f"g{g + 1}_act"] = Categorical(self.acts)
        return p

    def _layout(self) -> _Layout:
        return _Layout(
            s2d_size=self.s2d_size,
            kernels=self.kernels,
            space_to_batch=self.space_to_batch[0],
            act_groups=self.act_groups,
        )

    def stage_widths(self, i: int) -> tuple[int, ...]:
        """Distinct nominal widths of stage ``i`` (reference × ``width_choices``, rounded)."""
        ref = _B0[i].width
        return tuple(sorted({round_filters(ref * c, self.width_mult) for c in self.width_choices}))

    def lut_terms(self) -> list[Term]:
        """One term per stage scaled by its depth, plus stem and head (:mod:`.layer_terms`)."""
        declared = self.params()
        defaults = {name: dist.values()[0] for name, dist in declared.items()}

        def decode(values: dict[str, Any]) -> Arch:  # declared values: no need to validate
            v = {**defaults, **values}
            layout = self._layout()
            return _decode(
                v, self.width_mult, depth_mult=1.0, dropout=self.head_dropout, layout=layout
            )

        return efficientnet_x_terms(declared, decode, STAGES, self.act_groups)

    # -- decode / encode -----------------------------------------------------------------
    def decode(self, params: dict[str, Any]) -> Arch:
        self.validate_params(params)
        arch = _decode(
            params,
            self.width_mult,
            depth_mult=1.0,
            dropout=self.head_dropout,
            layout=self._layout(),
        )
        return self.checked(arch)

    def encode(self, arch: Arch) -> dict[str, Any]:
        params = _encode(arch, self._layout())
        if len(self.space_to_batch) == 1:
            params.pop("space_to_batch")
        try:
            self.validate_params(params)
        except ConfigError as exc:
            raise ArchError(f"arch is not a point of this efficientnet_x space: {exc}") from None
        if self.decode(params) != arch:
            raise ArchError(
                "arch is not a point of this efficientnet_x space (decoding its parameters "
                "gives a different arch; check head width, dropout and activations)"
            )
        return params

    def references(self) -> dict[str, Callable[[], Arch]]:
        return {name: (lambda n=name: reference_arch(n)) for name in REFERENCE_COEFFICIENTS}
