"""One error hierarchy, rooted at :class:`AccelSearchError`.

Messages name the bad value, the valid choices and the fix, so that a user can act on them
without reading the code.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from typing import Any


class AccelSearchError(Exception):
    """Base of every error accelsearch raises on purpose."""


class ConfigError(AccelSearchError, ValueError):
    """A recipe, argument or definition is invalid (raised before anything runs)."""


class UnknownNameError(ConfigError, KeyError):
    """A name (space, backend, strategy, ...) is not registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0] if self.args else ""


class ArchError(ConfigError):
    """An architecture violates a structural rule (channels, strides, constraints)."""


class BackendUnavailableError(AccelSearchError, RuntimeError):
    """An optional backend (TensorRT, a CUDA device, ...) is missing here."""


class MeasurementError(AccelSearchError, RuntimeError):
    """A latency measurement failed (out of memory, export failure, ...)."""


class EvaluationError(AccelSearchError, RuntimeError):
    """Accuracy evaluation failed (diverging loss, bad data, ...)."""


def choices_text(choices: Iterable[object]) -> str:
    """Render valid choices for an error message: ``'a', 'b', 'c'``."""
    return ", ".join(repr(c) for c in sorted(choices, key=str))


def short_repr(value: Any, limit: int = 120) -> str:
    """``repr`` cut to ``limit`` characters, without walking more of ``value`` than it shows
    (a value made by YAML aliases may be billions of items long)."""
    r = reprlib.Repr()
    r.maxlevel, r.maxlist, r.maxtuple, r.maxdict, r.maxset = 3, 6, 6, 6, 6
    r.maxstring, r.maxother, r.maxlong = limit, limit, 40
    text = r.repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


#: longest part of one error line taken from pydantic's message (which may quote the value)
MAX_MESSAGE = 400


def _valid_fields(model: type, loc: tuple) -> list[str]:
    """Field names valid at ``loc`` (for 'unknown field' messages)."""
    for part in loc[:-1]:
        field = model.model_fields.get(str(part)) if isinstance(part, str) else None
        ann = getattr(field, "annotation", None)
        # a pydantic model by its fields: `import accelsearch` does not import pydantic
        if isinstance(ann, type) and isinstance(getattr(ann, "model_fields", None), dict):
            model = ann
        else:
            return []
    return sorted(model.model_fields)


def format_validation_error(exc, source: str, model: type) -> str:
    """pydantic's errors (``exc``, a ``ValidationError`` of ``model``, a pydantic model class)
    as lines of ``source: field.path: problem (got value)``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err.get("loc", ()))
        path = ".".join(str(p) for p in loc) or "(recipe)"
        option = (err.get("ctx") or {}).get("option")
        if option:  # an error about one entry of an ``options`` mapping
            path = f"{path}.{option}"
        if err.get("type") == "extra_forbidden":
            valid = _valid_fields(model, loc)
            lines.append(f"{source}: {path}: unknown field; valid fields here: {', '.join(valid)}")
        elif err.get("type") == "missing":
            lines.append(f"{source}: {path}: required field is missing")
        else:
            msg = err.get("msg", "")
            msg = msg.removeprefix("Value error, ")
            if len(msg) > MAX_MESSAGE:  # a message that quotes a long value
                msg = msg[: MAX_MESSAGE - 3] + "..."
            got = err.get("input")
            extra = "" if isinstance(got, dict) or got is None else f" (got {short_repr(got)})"
            lines.append(f"{source}: {path}: {msg}{extra}")
    return "\n".join(lines)
