"""The size a candidate is proxy-trained at: its input resolution and total downsampling.

``cap_stride`` adapts an ImageNet-style candidate to small images by dropping strides from its
first strided stages (the usual CIFAR adaptation); ``required_multiple`` says which input sizes
an arch accepts. ``train_resolution`` (in :mod:`.train`) picks the resolution from these.
"""

from __future__ import annotations

import dataclasses
import math

from accelsearch.core.arch import Arch
from accelsearch.core.builder import is_fixed_stride  # the builder registers the built-in types


def required_multiple(arch: Arch) -> int:
    """Input sizes ``arch`` accepts are multiples of this (1 for most archs).

    A block type whose stride is structural (its description's ``fixed_stride``: an unpadded
    space-to-depth conv, type ``s2d``, kernel = stride = n) needs its input map divisible by
    n, i.e. the image divisible by n × the strides before it.
    """
    need, before = 1, 1
    units = ([arch.stem] if arch.stem is not None else []) + list(arch.stages)
    for st in units:
        if is_fixed_stride(st.type) and st.depth > 0:
            need = math.lcm(need, before * st.stride)
        if st.depth > 0:
            before *= st.stride
    return need


def cap_stride(arch: Arch, max_stride: int | None) -> Arch:
    """``arch`` with its total downsampling capped at ``max_stride``.

    Strides are removed from the first strided stages (the stem first) until the product
    of strides is at most ``max_stride``. Fixed-stride stages (space-to-depth) keep their
    stride (their kernel must equal it); stages of depth 0 have no blocks and do not count.
    """
    if max_stride is None:
        return arch
    units = [("stem", arch.stem)] if arch.stem is not None else []
    units += [(i, st) for i, st in enumerate(arch.stages) if st.depth > 0]
    total = math.prod(st.stride for _, st in units)
    stem, stages = arch.stem, list(arch.stages)
    for key, st in units:
        if total <= max_stride:
            break
        if st.stride <= 1 or is_fixed_stride(st.type):
            continue
        rest = total // st.stride
        new = st.stride
        while new > 1 and rest * new > max_stride:
            new = new // 2 if new % 2 == 0 else 1
        total = rest * new
        changed = dataclasses.replace(st, stride=new)
        if key == "stem":
            stem = changed
        else:
            stages[key] = changed
    return arch.replace(stem=stem, stages=tuple(stages))
