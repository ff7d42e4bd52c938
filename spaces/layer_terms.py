"""The lookup table's optional fast path, as a space provides it (GPUNet §3.2 at scale).

A latency lookup table predicts a network as the sum of its layers' latencies. To predict a
million Sobol samples fast, a space may split that sum into :class:`Term` s that each depend on
a few of its parameters (a stage's own choices, the previous stage's width, the resolution):
the table then decodes each distinct combination once and adds the terms per sample with
NumPy. A space offers this through its :meth:`~accelsearch.spaces.base.SearchSpace.lut_terms`
hook; the terms speak of ``Arch`` parts (:class:`LayerRef`), never of the table's own keys,
so this room knows nothing of the latency room above it.

The terms must add up to the layer sum of ``space.decode(params)`` for every point (the
latency room's tests check that for every space that has them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.blocks import stage_output

Column = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class LayerRef:
    """Layers of ``arch``: block ``block`` of stage ``stage`` (-1: the stem; the head is
    ``stage == len(arch.stages)``), or every layer of that stage when ``block`` is None.
    ``arch`` may be a fragment: one stage with its input channels as ``in_chans`` and its
    input size as ``resolution``."""

    arch: Arch
    stage: int
    block: int | None = None


@dataclass(frozen=True)
class Term:
    """Part of a network's layer sum that depends only on ``params`` (and ``derived``).

    ``layers(values)`` gets a value for each of ``params`` and ``derived`` and returns
    ``(ref, a, b)`` triples. Without ``scale`` the term is ``Σ ms(ref) · a``. With ``scale``
    (a stage's depth parameter, value d) it is ``Σ ms(ref) · (a · [d ≥ 1] + b · max(d − 1,
    0))``: the first block ``(first, 1, 0)`` once if the stage exists, the repeated block
    ``(repeat, 0, 1)`` d − 1 times.

    ``derived`` names quantities computed per sample from whole parameter columns (NumPy
    arrays of values by parameter name), e.g. a stage's input channels when the stage
    before it may be empty: combinations are formed over their distinct values, so a term
    stays small even when its input depends on many parameters.
    """

    params: tuple[str, ...]
    layers: Callable[[dict[str, Any]], list[tuple[LayerRef, float, float]]]
    scale: str | None = None
    derived: tuple[tuple[str, Callable[[Column], np.ndarray]], ...] = ()


def fragment(stage: Stage, in_chs: int, size: int) -> Arch:
    """One stage alone with its input (``LayerRef(fragment(...), 0, block)``)."""
    return Arch(resolution=int(size), in_chans=int(in_chs), stem=None, stages=(stage,), head=None)


# -- EfficientNet-X ------------------------------------------------------------------------------
def efficientnet_x_terms(
    declared: Mapping[str, Any],
    decode: Callable[[dict[str, Any]], Arch],
    stages: tuple[int, ...],
    act_groups: tuple[tuple[int, ...], ...] | None,
) -> list[Term]:
    """Stem (+ space-to-depth), one term per searched stage scaled by its depth, head.

    A stage's layers depend on its own choices, the previous stage's width, the resolution
    and the stem layout (space-to-depth, space-to-batch when searched). ``decode`` decodes
    a few parameters (the rest at their first declared value)."""
    layout = ("resolution", "space_to_depth")
    layout += ("space_to_batch",) if "space_to_batch" in declared else ()

    def stem(v):
        arch = decode(v)
        refs = [LayerRef(arch, -1)] + ([LayerRef(arch, 0)] if v["space_to_depth"] else [])
        return [(r, 1.0, 0.0) for r in refs]

    terms = [Term(layout, stem)]
    prev = None
    for pos, i in enumerate(stages):
        own = tuple(f"s{i}_{f}" for f in ("type", "kernel", "expansion", "se", "width"))
        own += (_act_param(i, declared, act_groups),)
        depth = f"s{i}_depth"
        deepest = max(declared[depth].values())

        def stage(v, pos=pos, depth=depth, deepest=deepest):
            arch = decode({**v, depth: deepest})
            index = pos + (1 if v["space_to_depth"] else 0)
            refs = [(LayerRef(arch, index, 0), 1.0, 0.0)]
            return refs + ([(LayerRef(arch, index, 1), 0.0, 1.0)] if deepest > 1 else [])

        params = own + ((f"s{prev}_width",) if prev else ()) + layout
        terms.append(Term(params, stage, scale=depth))
        prev = i

    def head(v):
        arch = decode(v)
        return [(LayerRef(arch, len(arch.stages)), 1.0, 0.0)]

    terms.append(Term((f"s{stages[-1]}_width", *layout), head))
    return terms


def _act_param(i: int, declared: Mapping[str, Any], groups) -> str:
    if f"s{i}_act" in declared:
        return f"s{i}_act"
    return next(f"g{g + 1}_act" for g, grp in enumerate(groups or ()) if i in grp)


# -- GPUNet --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GPUNetLayout:
    """What the GPUNet terms need of the space: its searched stages (index -> type and
    stride), the head's width and the SE ratio of a stage with SE on."""

    stages: Mapping[int, Any]  # index -> a record with .type and .stride
    head_width: int
    se_ratio: float

    def input_sizes(self, resolution: int) -> dict[int, int]:
        """Input size of every stage (0: the head) at ``resolution``, by each block type's
        output rule (its description's chain rule); strides are fixed, so sizes depend on the
        resolution only."""
        _, size = stage_output(Stage("conv", 1, stride=2), 3, resolution)  # stem; stage 1: s1
        table = {}
        for j, rng in self.stages.items():
            table[j] = size
            _, size = stage_output(Stage(rng.type, 1, stride=rng.stride), 1, size)
        table[0] = size
        return table


def gpunet_terms(layout: GPUNetLayout) -> list[Term]:
    """Stem, stage 1 (the stem's conv repeated), stages 2-7, head. Stages 5 and 7 may be
    empty, so the input channels of stages 6 and 7 and of the head are derived per sample
    (the width of the last non-empty stage before them); all strides are fixed, so sizes
    depend on the resolution only."""
    sizes: dict[int, dict[int, int]] = {}

    def input_size(resolution: int, i: int) -> int:
        if resolution not in sizes:
            sizes[resolution] = layout.input_sizes(resolution)
        return sizes[resolution][i]

    stem_params = ("resolution", "s0_filters", "s0_kernel", "s0_act")

    def stem(v):
        f, k = int(v["s0_filters"]), int(v["s0_kernel"])
        st = Stage("conv", f, kernel=k, stride=2, act=v["s0_act"])
        return [(LayerRef(fragment(st, 3, int(v["resolution"])), 0), 1.0, 0.0)]

    def stage1(v):
        f, k = int(v["s0_filters"]), int(v["s0_kernel"])
        stem_stage = Stage("conv", f, kernel=k, stride=2, act=v["s0_act"])
        _, size = stage_output(stem_stage, 3, int(v["resolution"]))
        st = dataclasses.replace(stem_stage, stride=1)
        return [(LayerRef(fragment(st, f, size), 0, 0), 1.0, 1.0)]

    terms = [Term(stem_params, stem), Term(stem_params, stage1, scale="s1_layers")]
    terms += [_gpunet_stage_term(layout, i, input_size) for i in layout.stages]

    def head(v):
        size = input_size(int(v["resolution"]), 0)
        arch = Arch(
            resolution=size,
            in_chans=int(v["in_chs"]),
            stem=None,
            stages=(),
            head=Head(width=layout.head_width, act="relu"),
        )
        return [(LayerRef(arch, 0, 0), 1.0, 0.0)]

    terms.append(Term(("resolution",), head, None, (("in_chs", _gpunet_in_chs(layout, 0)),)))
    return terms


_GPUNET_FIELDS = ("filters", "kernel", "expansion", "act", "se")


def _gpunet_stage_term(layout: GPUNetLayout, i: int, input_size) -> Term:
    rng = layout.stages[i]
    built: dict[tuple, Stage] = {}  # one Stage object per stage choice

    def stage(v):
        choice = tuple(v[f"s{i}_{f}"] for f in _GPUNET_FIELDS)
        st = built.get(choice)
        if st is None:
            st = built[choice] = Stage(
                rng.type,
                width=int(v[f"s{i}_filters"]),
                depth=2,
                kernel=int(v[f"s{i}_kernel"]),
                stride=rng.stride,
                expansion=float(v[f"s{i}_expansion"]),
                se=layout.se_ratio if int(v[f"s{i}_se"]) else 0.0,
                act=v[f"s{i}_act"],
            )
        arch = fragment(st, int(v["in_chs"]), input_size(int(v["resolution"]), i))
        return [(LayerRef(arch, 0, 0), 1.0, 0.0), (LayerRef(arch, 0, 1), 0.0, 1.0)]

    own = tuple(f"s{i}_{f}" for f in _GPUNET_FIELDS)
    derived = (("in_chs", _gpunet_in_chs(layout, i)),)
    return Term((*own, "resolution"), stage, f"s{i}_layers", derived)


def _gpunet_in_chs(layout: GPUNetLayout, i: int) -> Callable[[Column], np.ndarray]:
    """Width of the last non-empty stage before ``i`` (0: the head; stage 1 is never empty)."""
    order = list(layout.stages)

    def fn(col: Column) -> np.ndarray:
        out = col("s0_filters").astype(np.int64)
        for j in order[: order.index(i)] if i else order:
            out = np.where(col(f"s{j}_layers") > 0, col(f"s{j}_filters"), out)
        return out

    return fn
