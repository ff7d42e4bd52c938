"""Scaling rules: ``scale(arch, depth=d, width=w, resolution=r) -> Arch``.

Applied per stage, the same way for every space, so every space's archs scale:

* channels (stem, every stage, ``nominal_in``, head): ``w × channels`` rounded to the nearest
  multiple of ``channel_divisor`` (8), never below 90 % of ``w × channels`` (TF EfficientNet's
  ``round_filters``; timm's ``make_divisible``, which does the rounding here);
* depth: ``ceil(d × depth)`` per stage (a stage of depth 0 stays 0);
* resolution: ``r × resolution`` rounded to the nearest multiple of ``resolution_multiple``,
  at least one multiple. The multiple comes from the space (its ``resolution_multiple``
  attribute: 8 by default, 32 for GPUNet) or the argument.

When a multiplier is at least 1 no dimension ever shrinks: a channel count, depth or
resolution that the base model has off the grid (GENet-light's 13-channel stem, a 240 px
input with a multiple of 32) stays as it is until the scaled value rounds above it. So
every dimension is a non-decreasing function of the multipliers, and a scaled model is a
non-decreasing (step) function of φ in compound scaling; the φ solver relies on that.

The stem and blocks registered with ``fixed_depth=True`` (space-to-depth, reduction cells)
keep their depth, blocks registered with ``fixed_width=True`` (a whole timm model) their
width; ``ops`` (a cell's edge operations, a timm model name) are kept as they are.
A multiplier of exactly 1 leaves its dimension untouched.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from accelsearch.core.arch import Arch, Stage
from accelsearch.core.errors import ConfigError

DEFAULT_CHANNEL_DIVISOR = 8
DEFAULT_RESOLUTION_MULTIPLE = 8


def round_channels(channels: float, divisor: int = DEFAULT_CHANNEL_DIVISOR) -> int:
    """Nearest multiple of ``divisor`` (at least ``divisor``), never below 90 % of ``channels``."""
    from timm.layers import make_divisible

    return int(make_divisible(channels, divisor, round_limit=0.9))


def round_resolution(resolution: float, multiple: int = DEFAULT_RESOLUTION_MULTIPLE) -> int:
    """Nearest multiple of ``multiple``, at least one multiple."""
    return int(max(multiple, round(resolution / multiple) * multiple))


def space_rounding(space: Any = None) -> tuple[int, int]:
    """(channel divisor, resolution multiple) a space asks for (8 and 8 by default).

    ``space`` is a :class:`~accelsearch.spaces.SearchSpace`, a registered space name or None.
    """
    if isinstance(space, str):
        import accelsearch.spaces as spaces  # heavy (torch, every space): only for a name

        space = spaces.get(space)
    divisor = int(getattr(space, "channel_divisor", DEFAULT_CHANNEL_DIVISOR))
    multiple = int(getattr(space, "resolution_multiple", DEFAULT_RESOLUTION_MULTIPLE))
    for name, v in (("channel_divisor", divisor), ("resolution_multiple", multiple)):
        if v < 1:
            raise ConfigError(f"space {space!r} has {name}={v}; it must be a positive integer")
    return divisor, multiple


def _scaled_channels(channels: int, mult: float, divisor: int) -> int:
    if mult == 1.0 or channels == 0:
        return channels
    new = round_channels(channels * mult, divisor)
    return max(new, channels) if mult > 1.0 else new


def _scaled_depth(depth: int, mult: float) -> int:
    return int(math.ceil(depth * mult - 1e-9))


def _scale_stage(st: Stage, width: float, depth: float | None, divisor: int) -> Stage:
    # the builder registers the built-in block types whose descriptions are read below
    from accelsearch.core import builder  # heavy (torch): `import accelsearch.scaling` stays light

    keep_depth = depth is None or builder.is_fixed_depth(st.type)
    if builder.is_fixed_width(st.type):
        width = 1.0
    return dataclasses.replace(
        st,
        width=_scaled_channels(st.width, width, divisor),
        depth=st.depth if keep_depth else _scaled_depth(st.depth, depth),
        nominal_in=_scaled_channels(st.nominal_in, width, divisor),
    )


def _check_multiplier(name: str, v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ConfigError(
            f"scale(): the {name} multiplier must be a positive finite number, got {v!r}"
        )
    return float(v)


def scale(
    arch: Arch,
    depth: float = 1.0,
    width: float = 1.0,
    resolution: float = 1.0,
    *,
    space: Any = None,
    channel_divisor: int | None = None,
    resolution_multiple: int | None = None,
) -> Arch:
    """Scale ``arch``'s depth, width and resolution by the given multipliers.

    Rounding (module docstring) follows ``space`` (an object or registered name) unless
    ``channel_divisor`` / ``resolution_multiple`` are given.
    """
    if not isinstance(arch, Arch):
        raise ConfigError(f"scale() needs an Arch, got {type(arch).__name__}")
    depth = _check_multiplier("depth", depth)
    width = _check_multiplier("width", width)
    resolution = _check_multiplier("resolution", resolution)
    divisor, multiple = space_rounding(space)
    divisor = int(channel_divisor or divisor)
    multiple = int(resolution_multiple or multiple)
    stem = _scale_stage(arch.stem, width, None, divisor) if arch.stem else None
    stages = tuple(_scale_stage(st, width, depth, divisor) for st in arch.stages)
    head = arch.head
    if head is not None and head.width:
        head = dataclasses.replace(head, width=_scaled_channels(head.width, width, divisor))
    res = arch.resolution
    if resolution != 1.0:
        res = round_resolution(arch.resolution * resolution, multiple)
        if resolution > 1.0:
            res = max(res, arch.resolution)
    return dataclasses.replace(arch, resolution=res, stem=stem, stages=stages, head=head)


def compound(arch: Arch, alpha: float, beta: float, gamma: float, phi: float, **kw: Any) -> Arch:
    """EfficientNet's compound scaling: depth α^φ, width β^φ, resolution γ^φ."""
    return scale(arch, depth=alpha**phi, width=beta**phi, resolution=gamma**phi, **kw)
