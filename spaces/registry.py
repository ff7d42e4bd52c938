"""The registry of search spaces: ``SPACES`` and the ``@register_space`` decorator.

It lives apart from ``accelsearch.spaces`` (which re-exports both) so that the built-in space
modules register themselves without importing the package that imports them.
"""

from __future__ import annotations

from accelsearch.core.registry import Registry
from accelsearch.spaces.base import SearchSpace

SPACES: Registry[type[SearchSpace]] = Registry("search space")


def register_space(name: str):
    """Class decorator registering a :class:`SearchSpace` subclass under ``name``
    (``SPACES.register_class(name)``, kept under this name)."""
    return SPACES.register_class(name)
