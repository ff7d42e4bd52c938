"""Keyword options checked against what a constructor takes, with a "did you mean".

``spaces.get(name, **options)`` and ``accuracy.get(name, **options)`` pass a recipe's
``options`` mapping to a class; a misspelt key would otherwise surface as Python's
``__init__() got an unexpected keyword argument``. :func:`check_option_names` names the bad
key, the closest valid one and every valid one instead. (The kinds of the values are checked
by :func:`accelsearch.kinds.check_options`, which gives the same hint.)
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable, Iterable
from typing import Any

from accelsearch.core.errors import ConfigError, choices_text


def option_names(factory: Callable[..., Any]) -> list[str] | None:
    """Keyword names ``factory`` accepts, or None when it takes ``**kwargs`` it does not name.

    A class may say what its ``**kwargs`` accept with a classmethod ``option_names()``.
    """
    own = getattr(factory, "option_names", None)
    if inspect.isclass(factory) and callable(own):
        return sorted(own())
    target = factory.__init__ if inspect.isclass(factory) else factory
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        return None
    names, open_ended = [], False
    for p in params:
        if p.kind is p.VAR_KEYWORD:
            open_ended = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self":
            names.append(p.name)
    return None if open_ended else sorted(names)


def did_you_mean(key: str, valid: Iterable[str]) -> str:
    """`` (did you mean 'width_mult'?)`` for the valid name closest to ``key``, else ``""``."""
    close = difflib.get_close_matches(key, sorted(valid), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_option_message(what: str, key: str, valid: Iterable[str]) -> str:
    valid = sorted(valid)
    return f"{what} has no option {key!r}{did_you_mean(key, valid)}; valid options: " + (
        choices_text(valid)
    )


def check_option_names(factory: Callable[..., Any], options: dict[str, Any], what: str) -> None:
    """Raise :class:`ConfigError` for the first key of ``options`` that ``factory`` does not
    take (nothing is checked when its keywords cannot be known)."""
    valid = option_names(factory)
    if valid is None:
        return
    for key in options:
        if key not in valid:
            raise ConfigError(unknown_option_message(what, str(key), valid))
