"""The registry of search spaces: ``SPACES`` and the ``@register_space`` decorator.

It lives apart from ``accelsearch.spaces`` (which re-exports both) so that the built-in space
modules register themselves without importing the package that imports them.
"""

from __future__ import annotations

from accelsearch.core.registry import Registry
from accelsearch.spaces.base import SearchSpace

SPACES: Registry[type[SearchSpace]] = Registry("search space")


def register_space(name: str):
    """Class decorator: register a :class:`SearchSpace` subclass under ``name``."""

    def deco(cls: type[SearchSpace]) -> type[SearchSpace]:
        cls.name = name
        SPACES.add(name, cls)
        return cls

    return deco
