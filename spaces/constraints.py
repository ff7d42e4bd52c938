"""Constraints on architectures, and the check that a space's stages chain.

A space lists its constraints in ``SearchSpace.constraints`` (a class attribute, or an
instance attribute set in ``__init__``); ``SearchSpace.check(arch)`` runs :func:`check_chain`
and then each constraint, and :meth:`SearchSpace.build` and the spaces' ``decode`` call it.
Every failure is an :class:`~accelsearch.errors.ArchError` that names the stage and field,
the bad value, the rule and a fix, e.g.::

    stages[2] ('mbconv') field 'width' is 36: breaks MultipleOf('width', 8); use 32 or 40

Constraints: :class:`MultipleOf` (channels multiple of 8, ...), :class:`FieldRange`,
:class:`FixedStrides` (a fixed stride pattern), :class:`ResolutionMultiple`. Write your own by
subclassing :class:`Constraint` (one method, :meth:`Constraint.check`).

Chaining: each stage takes the previous stage's output. :func:`check_chain` walks the stages
with their input channels and feature-map size and applies the chain rule of the stage's
block type, part of its one description (:class:`accelsearch.core.blocks.BlockType`,
``register_block(name, chain=...)``); the default rule accepts every padded input. Each
rule sits next to its block: in :mod:`accelsearch.core.builder` an unpadded n×n stride-n conv
(``s2d``) needs an input size divisible by n; in :mod:`.nb201_blocks` ``bnact`` keeps its
channels and cells (``nb201cell``) keep the resolution; in :mod:`.timm_zoo` a whole timm
model (``timm``) must be the only stage and take the image; in :mod:`.efficientnet_x` the
``s2bstem``.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from accelsearch.core.arch import Arch, Stage
from accelsearch.core.blocks import ChainState, chain_rule, where
from accelsearch.core.blocks import default_rule as default_rule  # spaces' chain rules use it
from accelsearch.core.errors import ArchError

#: Stage fields a constraint may name: the numeric ones, read from ``Stage`` itself
STAGE_FIELDS = tuple(f.name for f in dataclasses.fields(Stage) if f.type in ("int", "float"))


def _stages(arch: Arch, include_stem: bool):
    if include_stem and arch.stem is not None:
        yield None, arch.stem
    yield from enumerate(arch.stages)


class Constraint(ABC):
    """A rule an ``Arch`` must follow; :meth:`check` raises ``ArchError`` naming stage and field."""

    @abstractmethod
    def check(self, arch: Arch) -> None:
        """Raise :class:`ArchError` if ``arch`` breaks the rule (called by ``space.check``)."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{v!r}" for v in vars(self).values())
        return f"{type(self).__name__}({fields})"


def _check_field(field: str) -> str:
    if field not in STAGE_FIELDS:
        raise ArchError(f"constraint field {field!r} is not a Stage field; valid: {STAGE_FIELDS}")
    return field


class MultipleOf(Constraint):
    """``field`` of every stage (of ``types``, if given) is a multiple of ``multiple``.

    ``include_stem`` and ``include_head`` extend a ``width`` rule to the stem and the head
    conv (a head width of 0, no conv, passes). Stages of depth 0 are not checked.
    """

    def __init__(
        self,
        field: str,
        multiple: int,
        *,
        types: Sequence[str] | None = None,
        include_stem: bool = True,
        include_head: bool = True,
    ) -> None:
        self.field = _check_field(field)
        self.multiple = int(multiple)
        self.types = tuple(types) if types is not None else None
        self.include_stem = include_stem
        self.include_head = include_head

    def __repr__(self) -> str:
        return f"MultipleOf({self.field!r}, {self.multiple})"

    def check(self, arch: Arch) -> None:
        m = self.multiple
        for i, st in _stages(arch, self.include_stem):
            if st.depth == 0 or (self.types is not None and st.type not in self.types):
                continue
            value = getattr(st, self.field)
            if self.field == "nominal_in" and value == 0:
                continue
            if value % m:
                lo, hi = int(value // m * m), int(value // m * m + m)
                fix = f"use {lo} or {hi}" if lo > 0 else f"use {hi}"
                raise ArchError(
                    f"{where(i, st)} field {self.field!r} is {value}: breaks {self!r}; {fix}"
                )
        head = arch.head
        if self.field == "width" and self.include_head and head is not None and head.width % m:
            raise ArchError(f"head field 'width' is {head.width}: breaks {self!r}")


class FieldRange(Constraint):
    """``low <= field <= high`` for every stage (of ``types``, if given; stem excluded)."""

    def __init__(
        self, field: str, low: float, high: float, *, types: Sequence[str] | None = None
    ) -> None:
        self.field = _check_field(field)
        self.low, self.high = low, high
        self.types = tuple(types) if types is not None else None

    def __repr__(self) -> str:
        return f"FieldRange({self.field!r}, {self.low}, {self.high})"

    def check(self, arch: Arch) -> None:
        for i, st in _stages(arch, include_stem=False):
            if self.types is not None and st.type not in self.types:
                continue
            value = getattr(st, self.field)
            if not self.low <= value <= self.high:
                raise ArchError(
                    f"{where(i, st)} field {self.field!r} is {value}: breaks {self!r}; "
                    f"use a value in [{self.low}, {self.high}]"
                )


class FixedStrides(Constraint):
    """The stages' strides are exactly ``strides`` (and the stem's is ``stem``, if given)."""

    def __init__(self, strides: Sequence[int], *, stem: int | None = None) -> None:
        self.strides = tuple(int(s) for s in strides)
        self.stem = stem

    def __repr__(self) -> str:
        return f"FixedStrides({list(self.strides)}" + (
            f", stem={self.stem})" if self.stem is not None else ")"
        )

    def check(self, arch: Arch) -> None:
        if self.stem is not None and arch.stem is not None and arch.stem.stride != self.stem:
            raise ArchError(
                f"{where(None, arch.stem)} field 'stride' is {arch.stem.stride}: breaks "
                f"{self!r}; the stem's stride is fixed to {self.stem}"
            )
        if len(arch.stages) != len(self.strides):
            raise ArchError(
                f"arch has {len(arch.stages)} stages but {self!r} fixes {len(self.strides)}"
            )
        for i, (st, want) in enumerate(zip(arch.stages, self.strides)):
            if st.stride != want:
                raise ArchError(
                    f"{where(i, st)} field 'stride' is {st.stride}: breaks {self!r}; the "
                    f"stride pattern is fixed, use {want}"
                )


class ResolutionMultiple(Constraint):
    """``Arch.resolution`` is a multiple of ``multiple`` (GPUNet: 32)."""

    def __init__(self, multiple: int) -> None:
        self.multiple = int(multiple)

    def __repr__(self) -> str:
        return f"ResolutionMultiple({self.multiple})"

    def check(self, arch: Arch) -> None:
        m = self.multiple
        if arch.resolution % m:
            near = max(m, round(arch.resolution / m) * m)
            raise ArchError(
                f"field 'resolution' is {arch.resolution}: breaks {self!r}; use e.g. {near}"
            )


# -- chaining ------------------------------------------------------------------------------------
def check_chain(arch: Arch) -> None:
    """Walk stem and stages; raise ``ArchError`` naming the first stage that cannot chain."""
    state = ChainState(arch.in_chans, arch.resolution, None, True)
    seq: list[tuple[int | None, Stage]] = list(_stages(arch, include_stem=True))
    for i, st in seq:
        state = ChainState(state.channels, state.size, i, state.first)
        channels, size = chain_rule(st.type)(st, state)
        if size < 1:
            raise ArchError(
                f"{where(i, st)} field 'stride' is {st.stride}: the feature map vanishes "
                f"({state.size} -> {size}); use a larger resolution or fewer strides"
            )
        first = state.first and st.depth == 0
        state = ChainState(channels, size, i, first)


def describe_params(name: str) -> str:
    """``'s4_filters'`` -> ``"stage s4, field 'filters'"`` (``g1_act``: block group; for
    error messages)."""
    head, sep, field = name.partition("_")
    if sep and head[:1] == "g" and head[1:].isdigit():
        return f"block group {head}, field {field!r}"
    if sep and head[:1].isalpha() and (head[1:].isdigit() or head == "stem"):
        return f"stage {head}, field {field!r}"
    return f"field {name!r}"


def value_text(values: Sequence[Any], limit: int = 12) -> str:
    vals = list(values)
    if len(vals) <= limit:
        return ", ".join(repr(v) for v in vals)
    return ", ".join(repr(v) for v in vals[:5]) + ", ..., " + ", ".join(repr(v) for v in vals[-3:])
