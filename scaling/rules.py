"""Scaling rules: ``scale(arch, depth=d, width=w, resolution=r) -> Arch``.

Applied per stage, the same way for every space, so every space's archs scale:

* channels (stem, every stage, ``nominal_in``, head): ``w × channels`` rounded to the nearest
  multiple of ``channel_divisor`` (8), never below 90 % of ``w × channels`` (TF EfficientNet's
  ``round_filters``, timm's ``make_divisible``);
* depth: ``ceil(d × depth)`` per stage (a stage of depth 0 stays 0);
* resolution: ``r × resolution`` rounded to the nearest multiple of ``resolution_multiple``
  (8 by default; GPUNet's space uses 32), at least one multiple.

The stem and blocks registered with ``fixed_depth`` (space-to-depth, reduction cells) keep
their depth; blocks whose ``ops`` name cells or whole models keep their ops.
"""

from __future__ import annotations

import dataclasses
import math

from accelsearch.arch import Arch, Stage
from accelsearch.errors import ConfigError


def round_channels(channels: float, divisor: int = 8) -> int:
    """Nearest multiple of ``divisor``, never below 90 % of ``channels``."""
    new = max(divisor, int(channels + divisor / 2) // divisor * divisor)
    if new < 0.9 * channels:
        new += divisor
    return int(new)


def round_resolution(resolution: float, multiple: int = 8) -> int:
    return int(max(multiple, round(resolution / multiple) * multiple))


def _scale_stage(st: Stage, width: float, depth: float | None, divisor: int) -> Stage:
    from accelsearch.builder import FIXED_DEPTH_TYPES

    if st.type in FIXED_DEPTH_TYPES:
        depth = None
    return dataclasses.replace(
        st,
        width=round_channels(st.width * width, divisor) if width != 1.0 else st.width,
        depth=st.depth if depth is None else int(math.ceil(st.depth * depth - 1e-9)),
        nominal_in=(
            round_channels(st.nominal_in * width, divisor)
            if (st.nominal_in and width != 1.0)
            else st.nominal_in
        ),
    )


def scale(
    arch: Arch,
    depth: float = 1.0,
    width: float = 1.0,
    resolution: float = 1.0,
    *,
    channel_divisor: int = 8,
    resolution_multiple: int = 8,
) -> Arch:
    """Scale ``arch``'s depth, width and resolution by the given multipliers."""
    for name, v in (("depth", depth), ("width", width), ("resolution", resolution)):
        if not (isinstance(v, (int, float)) and math.isfinite(v) and v > 0):
            raise ConfigError(f"scale(): {name} multiplier must be a positive number, got {v!r}")
    stem = _scale_stage(arch.stem, width, None, channel_divisor) if arch.stem else None
    stages = tuple(_scale_stage(st, width, depth, channel_divisor) for st in arch.stages)
    head = arch.head
    if head is not None and head.width and width != 1.0:
        head = dataclasses.replace(head, width=round_channels(head.width * width, channel_divisor))
    res = (
        arch.resolution
        if resolution == 1.0
        else round_resolution(arch.resolution * resolution, resolution_multiple)
    )
    return dataclasses.replace(arch, resolution=res, stem=stem, stages=stages, head=head)


def compound(arch: Arch, alpha: float, beta: float, gamma: float, phi: float, **kw) -> Arch:
    """EfficientNet's compound scaling: depth α^φ, width β^φ, resolution γ^φ."""
    return scale(arch, depth=alpha**phi, width=beta**phi, resolution=gamma**phi, **kw)
