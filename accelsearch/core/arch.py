"""``Arch``: the one value object that travels between the rooms.

An architecture is data (timm's habit): a frozen tree of a resolution, a stem, stages of
blocks and a head. Spaces decode search parameters into an ``Arch``, scaling turns an
``Arch`` into a bigger one, latency and accuracy take an ``Arch`` and build it with
:func:`accelsearch.builder.build_model`.

Two text forms, both exact round trips (``Arch.from_json(a.to_json()) == a`` and
``Arch.from_string(str(a)) == a``):

* JSON, lossless and versioned, for files and MLflow artifacts;
* a short string in the spirit of timm's block strings, for tags and logs, e.g.
  ``i224-stem.conv_r1_k3_s2_c32_arelu-mbconv_r2_k3_s2_e6_c24_se0.25_arelu-head_c1280_arelu``.

Conventions every builder follows:

* ``width`` is a stage's output channels, exactly (no rounding happens when building;
  rounding is the job of the space or of scaling).
* ``expansion`` is relative to the block's input channels, ``se`` (squeeze-excite ratio) too,
  TF/timm style: reduce width = ``int(input_channels * se)``. For the first block of a stage
  ``nominal_in`` (when > 0) replaces the real input channels in both rules; EfficientNet-X's
  space-to-depth blocks need this (TF's "input filters" before the ×4 of space-to-depth,
  timm's ``force_in_chs``).
* ``stride`` applies to the first block of a stage; the others have stride 1.
* ``ops`` carries the discrete choices a block type needs beyond the common fields (a cell's
  edge operations, a timm model name); empty for the ordinary conv blocks.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from accelsearch.core.errors import ArchError, choices_text

JSON_FORMAT = "accelsearch.arch/1"

#: Activations a block may name; the builder maps them to timm's ``get_act_layer``.
ACTIVATIONS = ("relu", "relu6", "swish", "hswish", "gelu", "sigmoid", "none")

_TYPE_RE = re.compile(r"^[a-z][a-z0-9]*$")
_OP_FORBIDDEN = re.compile(r"[\[\],\s]")


def _fmt_num(x: float | int) -> str:
    """Shortest exact text for a number: ``6`` for 6.0, ``0.25`` for 0.25."""
    if isinstance(x, float):
        if x.is_integer() and abs(x) < 1e15:
            return str(int(x))
        return repr(x)
    return str(x)


def _check_int(owner: str, name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ArchError(f"{owner}.{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ArchError(f"{owner}.{name} must be >= {minimum}, got {value}")
    return value


def _check_float(owner: str, name: str, value: Any, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ArchError(f"{owner}.{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < minimum:
        raise ArchError(f"{owner}.{name} must be a finite number >= {minimum}, got {value}")
    return value


def _check_act(owner: str, value: Any) -> str:
    if value not in ACTIVATIONS:
        raise ArchError(f"{owner}.act is {value!r}; valid choices: {choices_text(ACTIVATIONS)}")
    return value


@dataclass(frozen=True)
class Stage:
    """``depth`` repeats of one block type; the first block carries the stride."""

    type: str
    width: int
    depth: int = 1
    kernel: int = 3
    stride: int = 1
    expansion: float = 1.0
    se: float = 0.0
    act: str = "relu"
    nominal_in: int = 0
    ops: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        owner = f"Stage({self.type!r})"
        if not isinstance(self.type, str) or not _TYPE_RE.match(self.type):
            raise ArchError(
                f"Stage.type must be a lower-case word such as 'mbconv', got {self.type!r}"
            )
        set_ = object.__setattr__
        set_(self, "width", _check_int(owner, "width", self.width, 1))
        set_(self, "depth", _check_int(owner, "depth", self.depth, 0))
        set_(self, "kernel", _check_int(owner, "kernel", self.kernel, 1))
        set_(self, "stride", _check_int(owner, "stride", self.stride, 1))
        set_(self, "expansion", _check_float(owner, "expansion", self.expansion, 0.0))
        set_(self, "se", _check_float(owner, "se", self.se, 0.0))
        set_(self, "act", _check_act(owner, self.act))
        set_(self, "nominal_in", _check_int(owner, "nominal_in", self.nominal_in, 0))
        ops = self.ops
        if isinstance(ops, str) or not isinstance(ops, (tuple, list)):
            raise ArchError(f"{owner}.ops must be a sequence of strings, got {ops!r}")
        for op in ops:
            if not isinstance(op, str) or not op or _OP_FORBIDDEN.search(op):
                raise ArchError(
                    f"{owner}.ops has {op!r}; an op is a non-empty string without "
                    "brackets, commas or spaces"
                )
        set_(self, "ops", tuple(ops))

    # -- text ------------------------------------------------------------------------
    def to_string(self) -> str:
        parts = [
            self.type,
            f"r{self.depth}",
            f"k{self.kernel}",
            f"s{self.stride}",
        ]
        if self.expansion != 1.0:
            parts.append(f"e{_fmt_num(self.expansion)}")
        parts.append(f"c{self.width}")
        if self.se:
            parts.append(f"se{_fmt_num(self.se)}")
        parts.append(f"a{self.act}")
        if self.nominal_in:
            parts.append(f"n{self.nominal_in}")
        if self.ops:
            parts.append("o[" + ",".join(self.ops) + "]")
        return "_".join(parts)

    @classmethod
    def from_string(cls, text: str) -> Stage:
        tokens = _split_outside_brackets(text, "_")
        if not tokens:
            raise ArchError(f"empty stage string in {text!r}")
        kw: dict[str, Any] = {"type": tokens[0]}
        for tok in tokens[1:]:
            kw.update(_parse_stage_token(tok, text))
        if "width" not in kw:
            raise ArchError(f"stage string {text!r} has no width token 'c<channels>'")
        return cls(**kw)


@dataclass(frozen=True)
class Head:
    """Classifier head: optional 1×1 conv to ``width`` (0 = none), pool, dropout, FC."""

    width: int = 0
    act: str = "relu"
    dropout: float = 0.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "width", _check_int("Head", "width", self.width, 0))
        object.__setattr__(self, "act", _check_act("Head", self.act))
        dropout = _check_float("Head", "dropout", self.dropout, 0.0)
        if dropout >= 1.0:
            raise ArchError(f"Head.dropout must be in [0, 1), got {dropout}")
        object.__setattr__(self, "dropout", dropout)

    def to_string(self) -> str:
        text = f"head_c{self.width}_a{self.act}"
        if self.dropout:
            text += f"_dp{_fmt_num(self.dropout)}"
        return text


@dataclass(frozen=True)
class Arch:
    """A whole network: input resolution, stem, stages and head."""

    resolution: int
    stages: tuple[Stage, ...]
    stem: Stage | None = None
    head: Head | None = field(default_factory=Head)
    in_chans: int = 3

    def __post_init__(self) -> None:
        object.__setattr__(self, "resolution", _check_int("Arch", "resolution", self.resolution, 1))
        object.__setattr__(self, "in_chans", _check_int("Arch", "in_chans", self.in_chans, 1))
        stages = self.stages
        if isinstance(stages, Stage) or not isinstance(stages, (tuple, list)):
            raise ArchError(f"Arch.stages must be a sequence of Stage, got {stages!r}")
        for i, st in enumerate(stages):
            if not isinstance(st, Stage):
                raise ArchError(f"Arch.stages[{i}] must be a Stage, got {st!r}")
        object.__setattr__(self, "stages", tuple(stages))
        if self.stem is not None and not isinstance(self.stem, Stage):
            raise ArchError(f"Arch.stem must be a Stage or None, got {self.stem!r}")
        if self.head is not None and not isinstance(self.head, Head):
            raise ArchError(f"Arch.head must be a Head or None, got {self.head!r}")

    # -- convenience -----------------------------------------------------------------
    def replace(self, **changes: Any) -> Arch:
        return dataclasses.replace(self, **changes)

    @property
    def num_blocks(self) -> int:
        return sum(st.depth for st in self.stages)

    def hash(self) -> str:
        """Stable short digest of the JSON form (cache keys, run names)."""
        return hashlib.sha256(self.to_json(indent=None).encode()).hexdigest()[:16]

    # -- JSON --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        for st in [data["stem"], *data["stages"]]:
            if st is not None:
                st["ops"] = list(st["ops"])
        data["stages"] = list(data["stages"])
        return {"format": JSON_FORMAT, **data}

    def to_json(self, indent: int | None = 2) -> str:
        if indent is None:
            return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Arch:
        data = dict(data)
        fmt = data.pop("format", JSON_FORMAT)
        if fmt != JSON_FORMAT:
            raise ArchError(f"Arch JSON format is {fmt!r}; this version reads {JSON_FORMAT!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ArchError(f"Arch JSON has unknown field(s) {unknown}; valid: {sorted(known)}")
        try:
            stages = tuple(Stage(**st) for st in data.get("stages", ()))
            stem = Stage(**data["stem"]) if data.get("stem") is not None else None
            head = Head(**data["head"]) if data.get("head") is not None else None
        except TypeError as exc:  # unknown or missing keys inside a stage/head
            raise ArchError(f"Arch JSON has a malformed stage or head: {exc}") from None
        return cls(
            resolution=data.get("resolution"),
            stages=stages,
            stem=stem,
            head=head,
            in_chans=data.get("in_chans", 3),
        )

    @classmethod
    def from_json(cls, text: str) -> Arch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ArchError(f"Arch JSON is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ArchError("Arch JSON must be an object")
        return cls.from_dict(data)

    # -- short string ------------------------------------------------------------------
    def to_string(self) -> str:
        segs = [f"i{self.resolution}" + (f"x{self.in_chans}" if self.in_chans != 3 else "")]
        if self.stem is not None:
            segs.append("stem." + self.stem.to_string())
        segs += [st.to_string() for st in self.stages]
        if self.head is not None:
            segs.append(self.head.to_string())
        return "-".join(segs)

    def __str__(self) -> str:
        return self.to_string()

    @classmethod
    def from_string(cls, text: str) -> Arch:
        segs = _split_outside_brackets(text.strip(), "-")
        if not segs or not re.fullmatch(r"i\d+(x\d+)?", segs[0]):
            raise ArchError(
                f"arch string must start with 'i<resolution>' such as 'i224', got {text!r}"
            )
        res, _, chans = segs[0][1:].partition("x")
        stem = None
        head = None
        stages = []
        for seg in segs[1:]:
            if seg.startswith("stem."):
                stem = Stage.from_string(seg[len("stem.") :])
            elif seg.startswith("head_") or seg == "head":
                head = _parse_head(seg)
            else:
                stages.append(Stage.from_string(seg))
        return cls(
            resolution=int(res),
            stages=tuple(stages),
            stem=stem,
            head=head,
            in_chans=int(chans) if chans else 3,
        )


# -- parsing helpers ----------------------------------------------------------------------
def _split_outside_brackets(text: str, sep: str) -> list[str]:
    out, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == sep and depth == 0:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return [t for t in out if t]


_STAGE_TOKENS = (
    ("se", "se", float),
    ("r", "depth", int),
    ("k", "kernel", int),
    ("s", "stride", int),
    ("e", "expansion", float),
    ("c", "width", int),
    ("a", "act", str),
    ("n", "nominal_in", int),
)


def _parse_stage_token(tok: str, whole: str) -> dict[str, Any]:
    if tok.startswith("o[") and tok.endswith("]"):
        inner = tok[2:-1]
        return {"ops": tuple(inner.split(",")) if inner else ()}
    for prefix, name, conv in _STAGE_TOKENS:
        if tok.startswith(prefix) and len(tok) > len(prefix):
            rest = tok[len(prefix) :]
            if conv is str:
                if rest.isalpha() or rest in ACTIVATIONS:
                    return {name: rest}
                continue
            try:
                return {name: conv(rest)}
            except ValueError:
                continue
    raise ArchError(f"unknown token {tok!r} in stage string {whole!r}")


def _parse_head(seg: str) -> Head:
    kw: dict[str, Any] = {}
    for tok in seg.split("_")[1:]:
        if tok.startswith("dp"):
            kw["dropout"] = float(tok[2:])
        elif tok.startswith("c"):
            kw["width"] = int(tok[1:])
        elif tok.startswith("a"):
            kw["act"] = tok[1:]
        else:
            raise ArchError(f"unknown token {tok!r} in head string {seg!r}")
    return Head(**kw)
