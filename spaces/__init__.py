"""Search spaces and reference architectures (``accelsearch.spaces``).

>>> from accelsearch import spaces
>>> space = spaces.get("efficientnet_x")
>>> arch = space.reference("efficientnet-x-b0")

Register a space of your own with ``@spaces.register_space("name")`` on a
:class:`SearchSpace` subclass; ``spaces.get(name, **options)`` makes one.
"""

from __future__ import annotations

import builtins

from accelsearch.core.options import check_option_names
from accelsearch.spaces.base import SearchSpace
from accelsearch.spaces.constraints import (
    Constraint,
    FieldRange,
    FixedStrides,
    MultipleOf,
    ResolutionMultiple,
)
from accelsearch.spaces.distributions import Categorical, IntRange, Ordinal
from accelsearch.spaces.registry import SPACES, register_space
from accelsearch.spaces.stagewise import StageSpec, StagewiseSpace


def get(name: str, **options) -> SearchSpace:
    """A new instance of the space registered as ``name`` (options go to its constructor;
    an option it does not take fails naming the valid ones)."""
    cls = SPACES.get(name)
    check_option_names(cls, options, f"space {name!r}")
    return cls(**options)


def list() -> builtins.list[str]:  # noqa: A001 - the public name users asked for
    """Registered space names."""
    return SPACES.names()


# Built-in spaces register themselves on import.
from accelsearch.spaces import (  # noqa: E402,F401
    efficientnet,
    efficientnet_x,
    genet,
    gpunet,
    nb201,
    timm_zoo,
)

__all__ = [
    "Categorical",
    "Constraint",
    "FieldRange",
    "FixedStrides",
    "IntRange",
    "MultipleOf",
    "Ordinal",
    "ResolutionMultiple",
    "SearchSpace",
    "StageSpec",
    "StagewiseSpace",
    "SPACES",
    "get",
    "list",
    "register_space",
]
