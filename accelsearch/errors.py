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
