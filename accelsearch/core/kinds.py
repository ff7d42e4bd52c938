"""Options of the kind they are meant to be, checked before anything compares or converts them.

Options of spaces, evaluators, strategies and the timing protocol reach Python untyped from
a recipe's YAML; a list where a text belongs must be refused with the option's name, not
fail inside ``str.startswith`` or ``int()`` with a traceback. A "kind" is a Python type:
``bool`` is not an ``int`` here (YAML's ``yes``), an ``int`` is a ``float``, a tuple is a
``list``.
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
import types
import typing
from collections.abc import Sequence
from typing import Any

from accelsearch.core.errors import ConfigError, short_repr
from accelsearch.core.options import did_you_mean

_TEXT = {
    bool: "true or false",
    int: "an integer",
    float: "a number",
    str: "a text",
    list: "a list",
    tuple: "a list",
    dict: "a mapping",
    type(None): "null",
}


def is_kind(value: Any, kinds: tuple[type, ...]) -> bool:
    if isinstance(value, bool):  # YAML's true/false are ints to Python; not here
        return bool in kinds
    if isinstance(value, numbers.Integral) and (int in kinds or float in kinds):
        return True  # numpy's integers too
    if isinstance(value, numbers.Real) and float in kinds:
        return True
    if isinstance(value, (list, tuple)) and (list in kinds or tuple in kinds):
        return True
    return isinstance(value, kinds)


def kinds_text(kinds: tuple[type, ...]) -> str:
    """``"an integer or null"``."""
    return " or ".join(dict.fromkeys(_TEXT.get(k, k.__name__) for k in kinds))


def annotation_kinds(hint: Any) -> tuple[type, ...]:
    """The kinds an annotation admits: ``int | None`` -> (int, NoneType); ``Sequence[str]``
    -> (list, tuple, str) (one text stands for a list of one); anything else it cannot
    tell -> ()."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [annotation_kinds(arg) for arg in typing.get_args(hint)]
        return () if any(not p for p in parts) else tuple(k for p in parts for k in p)
    if hint is Sequence or origin is Sequence:  # a text is a sequence, but only of texts
        return (list, tuple, str) if typing.get_args(hint) == (str,) else (list, tuple)
    if origin in (list, tuple, dict):
        return (origin,)
    return (hint,) if hint in _TEXT else ()


def check_kind(name: str, value: Any, kinds: tuple[type, ...]) -> None:
    """Raise :class:`ConfigError` naming ``name`` unless ``value`` is one of ``kinds``."""
    if kinds and not is_kind(value, kinds):
        raise ConfigError(f"{name} must be {kinds_text(kinds)}, got {short_repr(value)}")


def check_fields(obj: Any, prefix: str) -> None:
    """Every field of dataclass ``obj`` of the kind its annotation says (``prefix.field``)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        check_kind(f"{prefix}.{f.name}", getattr(obj, f.name), annotation_kinds(hints[f.name]))


def _hints(fn: Any) -> dict[str, Any]:
    """``fn``'s resolved annotations; one that does not resolve (a library's, naming a type
    it imports only for type checkers) is left out rather than failing all of them."""
    try:
        return typing.get_type_hints(fn)
    except NameError:
        pass
    out = {}
    for name, ann in getattr(fn, "__annotations__", {}).items():
        try:
            out[name] = eval(ann, getattr(fn, "__globals__", {})) if isinstance(ann, str) else ann
        except Exception:  # noqa: BLE001 - any annotation that does not evaluate is skipped
            continue
    return out


def element_kinds(hint: Any) -> tuple[type, ...]:
    """The kinds of a sequence annotation's entries (``Sequence[int] | None`` -> (int,))."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        parts = [element_kinds(arg) for arg in typing.get_args(hint)]
        return tuple(k for p in parts for k in p)
    if origin in (Sequence, list, tuple):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        parts = [annotation_kinds(a) for a in args]
        return () if not parts or any(not p for p in parts) else tuple(k for p in parts for k in p)
    return ()


def check_options(
    fn: Any,
    options: dict[str, Any],
    prefix: str,
    reserved: tuple[str, ...] = (),
    owner: str = "it",
) -> None:
    """``options`` (keyword arguments for ``fn``, from a recipe) named by ``fn``'s signature
    (unless it takes ``**kwargs``) and of the kinds its annotations say, list entries too;
    ``reserved`` parameters are the caller's to give, not the recipe's; ``owner`` names
    what takes them in the message."""
    params = inspect.signature(fn).parameters
    if reserved or not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        valid = [
            n
            for n, p in params.items()
            if n not in ("self", *reserved)
            and p.kind is not p.VAR_POSITIONAL
            and p.kind is not p.VAR_KEYWORD
        ]
        unknown = sorted(set(options) - set(valid))
        if unknown:
            hint = did_you_mean(str(unknown[0]), valid)
            raise ConfigError(
                f"{prefix} has {unknown}, which {owner} does not take{hint}; valid options: "
                f"{', '.join(sorted(valid)) or '(none)'}"
            )
    hints = _hints(fn)
    for name, value in options.items():
        if name not in hints:
            continue
        check_kind(f"{prefix}.{name}", value, annotation_kinds(hints[name]))
        entries = element_kinds(hints[name])
        if entries and isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                check_kind(f"{prefix}.{name}[{i}]", item, entries)
