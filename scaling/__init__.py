"""Compound scaling and LACS (``accelsearch.scaling``).

>>> from accelsearch import scaling
>>> bigger = scaling.scale(arch, depth=1.2, width=1.1, resolution=1.15)
>>> family = scaling.LACS(grid=[(1.2, 1.1, 1.15)], latency=..., accuracy=...).run(arch, [2.0, 4.0])
"""

from accelsearch.scaling.family import Family, FamilyMember, GridPoint
from accelsearch.scaling.lacs import LACS, UnreachableTargetError, default_grid, validate_grid
from accelsearch.scaling.rules import compound, round_channels, round_resolution, scale

__all__ = [
    "Family",
    "FamilyMember",
    "GridPoint",
    "LACS",
    "UnreachableTargetError",
    "compound",
    "default_grid",
    "round_channels",
    "round_resolution",
    "scale",
    "validate_grid",
]
