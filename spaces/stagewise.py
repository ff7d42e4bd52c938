"""A space declared stage by stage: every field a fixed value or a distribution, no code.

>>> from accelsearch import spaces
>>> from accelsearch.arch import Head, Stage
>>> from accelsearch.spaces import Categorical, IntRange, MultipleOf, Ordinal, StageSpec, StagewiseSpace
>>> @spaces.register_space("tiny_mbconv")
... class TinyMBConv(StagewiseSpace):
...     resolution = Ordinal((32, 48))
...     stem = Stage("conv", width=16, stride=2)
...     stages = (
...         StageSpec("mbconv", width=IntRange(16, 32, 8), depth=IntRange(1, 2), stride=2),
...         StageSpec("mbconv", width=IntRange(32, 64, 16), kernel=Ordinal((3, 5)), stride=2),
...         StageSpec("fused", width=IntRange(64, 96, 32), act=Categorical(("relu", "swish"))),
...     )
...     head = Head(width=128)
...     constraints = (MultipleOf("width", 8),)

Parameters are named ``<stage>_<field>`` (``s1_width``, ``s2_act``; ``stem_width``) and
``resolution``; a :class:`StageSpec` may set its own ``name``. ``decode`` validates the
parameters, builds the ``Arch`` and checks it (stages chain, constraints hold); ``encode``
reads the parameters back and fails, naming the stage and field, where the arch differs
from a fixed value. The declaration itself is checked when the space is made: bad fields,
empty distributions and stages that do not chain (tried on the smallest choices) fail then.
Instances may also be made directly: ``StagewiseSpace(stages=[...], resolution=64)``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import accelsearch.spaces.distributions as D
from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.builder import BLOCKS
from accelsearch.core.errors import ArchError, ConfigError
from accelsearch.spaces.base import SearchSpace
from accelsearch.spaces.constraints import Constraint

#: Stage fields a StageSpec may declare (``ops`` and ``nominal_in`` are fixed values only)
SEARCHABLE_FIELDS = ("width", "depth", "kernel", "stride", "expansion", "se", "act")
_DISTS = (D.Categorical, D.IntRange, D.Ordinal)


def _with_stage_fields(cls: type) -> type:
    """Make ``cls`` a frozen dataclass whose fields are ``Stage``'s own (same names, order and
    defaults; a searchable field may hold a distribution, so it is typed ``Any``) followed by
    the fields ``cls`` declares itself: ``Stage``'s fields are written once, in ``arch.py``."""
    own = dict(cls.__dict__.get("__annotations__", {}))
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(Stage):
        fields[f.name] = "Any" if f.name in SEARCHABLE_FIELDS else f.type
        if f.default is not dataclasses.MISSING:
            setattr(cls, f.name, f.default)
    cls.__annotations__ = {**fields, **own}
    return dataclass(frozen=True)(cls)


@_with_stage_fields
class StageSpec:
    """One stage of a :class:`StagewiseSpace`: a block type and, per field, a value or a
    distribution (:class:`~accelsearch.spaces.Categorical`, ``IntRange``, ``Ordinal``).

    Its fields are ``Stage``'s (``type``, ``width``, ``depth``, ``kernel``, ``stride``,
    ``expansion``, ``se``, ``act``, ``nominal_in``, ``ops``, with the same defaults) and
    ``name``."""

    name: str = ""  # parameter prefix; default s1, s2, ... (stem: "stem")

    def searched(self) -> dict[str, D.Distribution]:
        return {
            f: getattr(self, f) for f in SEARCHABLE_FIELDS if isinstance(getattr(self, f), _DISTS)
        }

    def fixed(self) -> dict[str, Any]:
        return {
            f: getattr(self, f)
            for f in SEARCHABLE_FIELDS
            if not isinstance(getattr(self, f), _DISTS)
        }

    def stage(self, values: dict[str, Any]) -> Stage:
        kw = {**self.fixed(), **values}
        return Stage(self.type, nominal_in=self.nominal_in, ops=self.ops, **kw)

    @classmethod
    def of(cls, stage: Stage) -> StageSpec:
        """A spec with every field fixed to ``stage``'s values."""
        return cls(**{f.name: getattr(stage, f.name) for f in dataclasses.fields(Stage)})


class StagewiseSpace(SearchSpace):
    """A space declared by class attributes (or constructor arguments):

    ``resolution`` (int or distribution), ``stem`` (``Stage``, ``StageSpec`` or None),
    ``stages`` (sequence of ``StageSpec`` or ``Stage``), ``head`` (``Head`` or None),
    ``in_chans`` (3), ``constraints`` (sequence of
    :class:`~accelsearch.spaces.constraints.Constraint`), ``reference_archs`` (name ->
    ``Arch`` or a function returning one).
    """

    resolution: Any = 224
    stem: StageSpec | Stage | None = None
    stages: Sequence[StageSpec | Stage] = ()
    head: Head | None = Head()
    in_chans: int = 3
    reference_archs: dict[str, Arch | Callable[[], Arch]] = {}

    def __init__(self, **declaration: Any) -> None:
        allowed = {
            "resolution",
            "stem",
            "stages",
            "head",
            "in_chans",
            "constraints",
            "reference_archs",
            "name",
            "source",
            "resolution_multiple",
        }
        unknown = sorted(set(declaration) - allowed)
        if unknown:
            raise ConfigError(
                f"{type(self).__name__} got unknown argument(s) {unknown}; valid: {sorted(allowed)}"
            )
        for key, value in declaration.items():
            setattr(self, key, value)
        self._specs = self._declared_specs()
        self._validate_declaration()

    # -- the declaration ---------------------------------------------------------------------
    def _declared_specs(self) -> list[tuple[str, StageSpec, str]]:
        """(parameter prefix, spec, how errors name it) for the stem and each stage."""
        specs: list[tuple[str, StageSpec, str]] = []
        if self.stem is not None:
            spec = self.stem if isinstance(self.stem, StageSpec) else _as_spec(self.stem, "stem")
            specs.append((spec.name or "stem", spec, "stem"))
        if isinstance(self.stages, (StageSpec, Stage)) or not isinstance(self.stages, Sequence):
            raise ConfigError(f"space {self.name!r}: stages must be a sequence of StageSpec")
        for i, st in enumerate(self.stages):
            spec = st if isinstance(st, StageSpec) else _as_spec(st, f"stages[{i}]")
            specs.append((spec.name or f"s{i + 1}", spec, f"stages[{i}]"))
        names = [n for n, _, _ in specs]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(f"space {self.name!r}: stage names {dup} are used twice")
        return specs

    def _validate_declaration(self) -> None:
        for _, spec, where in self._specs:
            try:
                spec.stage({f: d.values()[0] for f, d in spec.searched().items()})
            except ArchError as exc:
                raise ConfigError(
                    f"space {self.name!r}: {where} ({spec.type!r}) is not a valid stage: {exc}"
                ) from None
            if spec.type not in BLOCKS:
                raise ConfigError(
                    f"space {self.name!r}: {where} field 'type' is {spec.type!r}, which no "
                    f"block builder knows; valid: {', '.join(BLOCKS.names())}"
                )
        if not isinstance(self.resolution, (int, *_DISTS)) or isinstance(self.resolution, bool):
            raise ConfigError(
                f"space {self.name!r}: resolution must be an int or a distribution, "
                f"got {self.resolution!r}"
            )
        for rule in self.constraints:
            if not isinstance(rule, Constraint):
                raise ConfigError(
                    f"space {self.name!r}: constraints must be Constraint objects, got {rule!r}"
                )
        # the smallest choice of every field must chain and meet the constraints
        smallest = {name: dist.values()[0] for name, dist in self.params().items()}
        try:
            self.check(self._arch(smallest))
        except ArchError as exc:
            raise ConfigError(f"space {self.name!r} is inconsistent: {exc}") from None

    # -- SearchSpace ---------------------------------------------------------------------------
    def params(self) -> dict[str, D.Distribution]:
        p: dict[str, D.Distribution] = {}
        if isinstance(self.resolution, _DISTS):
            p["resolution"] = self.resolution
        for prefix, spec, _ in self._specs:
            for field, dist in spec.searched().items():
                p[f"{prefix}_{field}"] = dist
        return p

    def decode(self, params: dict[str, Any]) -> Arch:
        self.validate_params(params)
        return self.checked(self._arch(params))

    def _arch(self, params: dict[str, Any]) -> Arch:
        stages = []
        stem = None
        for prefix, spec, where in self._specs:
            st = spec.stage({f: params[f"{prefix}_{f}"] for f in spec.searched()})
            if where == "stem":
                stem = st
            else:
                stages.append(st)
        resolution = params["resolution"] if "resolution" in params else self.resolution
        return Arch(
            resolution=int(resolution),
            stem=stem,
            stages=tuple(stages),
            head=self.head,
            in_chans=self.in_chans,
        )

    def encode(self, arch: Arch) -> dict[str, Any]:
        body = [arch.stem] if self.stem is not None else []
        if self.stem is not None and arch.stem is None:
            raise ArchError(f"arch is not a point of space {self.name!r}: it has no stem")
        body += list(arch.stages)
        if len(body) != len(self._specs):
            raise ArchError(
                f"arch is not a point of space {self.name!r}: it has {len(arch.stages)} stages, "
                f"the space has {len(self._specs) - (self.stem is not None)} stages"
            )
        params: dict[str, Any] = {}
        if isinstance(self.resolution, _DISTS):
            params["resolution"] = arch.resolution
        elif arch.resolution != self.resolution:
            raise ArchError(
                f"arch is not a point of space {self.name!r}: field 'resolution' is "
                f"{arch.resolution}, the space fixes {self.resolution}"
            )
        for (prefix, spec, where), st in zip(self._specs, body):
            params.update(self._encode_stage(prefix, spec, where, st))
        try:
            self.validate_params(params)
        except ConfigError as exc:
            raise ArchError(f"arch is not a point of space {self.name!r}: {exc}") from None
        if self._arch(params) != arch:
            raise ArchError(
                f"arch is not a point of space {self.name!r}: its head, input channels, ops or "
                "nominal_in differ from the declaration"
            )
        return params

    def _encode_stage(self, prefix: str, spec: StageSpec, where: str, st: Stage) -> dict[str, Any]:
        """The searched fields of ``st``; raise ``ArchError`` where it breaks ``spec``."""
        if st.type != spec.type:
            raise ArchError(
                f"arch is not a point of space {self.name!r}: {where} field 'type' is "
                f"{st.type!r}, the space has {spec.type!r}"
            )
        for field, value in spec.fixed().items():
            if getattr(st, field) != value:
                raise ArchError(
                    f"arch is not a point of space {self.name!r}: {where} field {field!r} "
                    f"is {getattr(st, field)!r}, the space fixes {value!r}"
                )
        return {f"{prefix}_{field}": getattr(st, field) for field in spec.searched()}

    def references(self) -> dict[str, Callable[[], Arch]]:
        return {
            name: (ref if callable(ref) else (lambda r=ref: r))
            for name, ref in self.reference_archs.items()
        }


def _as_spec(stage: Any, where: str) -> StageSpec:
    if isinstance(stage, Stage):
        return StageSpec.of(stage)
    raise ConfigError(f"{where} must be a StageSpec or a Stage, got {stage!r}")
