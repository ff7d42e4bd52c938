"""``SearchSpace``: the extension point every space implements.

A space declares its parameters (:mod:`accelsearch.spaces.distributions`), decodes a
parameter dict into an :class:`~accelsearch.arch.Arch` and encodes an ``Arch`` back, and
names its reference architectures. Everything else (sampling, conversions for Ray Tune,
Optuna and pymoo, size, building) has a default here.

Abstract: :meth:`params`, :meth:`decode`, :meth:`encode`. Optional hooks with defaults:
:meth:`references` (no references), :meth:`check` (the stages chain and every item of
:attr:`constraints` holds), :meth:`build` (:func:`accelsearch.builder.build_model`).
``decode`` implementations end with ``return self.checked(arch)`` so that a decoded arch
that breaks a constraint fails at once, naming the stage and field.

For a space made of stages whose fields are fixed values or distributions, subclass
:class:`accelsearch.spaces.stagewise.StagewiseSpace` instead: it needs no code.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import accelsearch.spaces.distributions as D
from accelsearch.core.arch import Arch
from accelsearch.core.builder import build_model
from accelsearch.core.errors import ArchError, UnknownNameError, choices_text
from accelsearch.spaces.constraints import check_chain

if TYPE_CHECKING:
    from accelsearch.spaces.constraints import Constraint
    from accelsearch.spaces.layer_terms import Term


class SearchSpace(ABC):
    """Base of every search space; subclasses are registered with ``@register_space``."""

    #: registered name, set by ``register_space``
    name: str = ""
    #: one line saying where the space comes from (paper, table)
    source: str = ""
    #: resolutions of this space's archs are multiples of this (scaling rounds to it)
    resolution_multiple: int = 8
    #: rules every arch of the space follows (:mod:`accelsearch.spaces.constraints`)
    constraints: Sequence[Constraint] = ()

    # -- the abstract part -------------------------------------------------------------
    @abstractmethod
    def params(self) -> dict[str, D.Distribution]:
        """Declared distributions, by parameter name. Called whenever a searcher starts."""

    @abstractmethod
    def decode(self, params: dict[str, Any]) -> Arch:
        """Turn one parameter assignment into an ``Arch`` (called once per trial)."""

    @abstractmethod
    def encode(self, arch: Arch) -> dict[str, Any]:
        """Inverse of :meth:`decode` for archs that are points of the space."""

    # -- optional hooks ----------------------------------------------------------------
    def references(self) -> dict[str, Callable[[], Arch]]:
        """Published reference architectures, by name (built lazily)."""
        return {}

    def lut_terms(self) -> list[Term] | None:
        """The lookup table's fast path: the network's layer sum split into terms that each
        depend on a few parameters (:mod:`accelsearch.spaces.layer_terms`), or None (the
        default) to have every point decoded whole.

        Called by the latency lookup table once per batch of predictions it is asked for
        (``predict_many``, ``predict_unit``); the terms must add up to the layer sum of
        :meth:`decode` for every point.
        """
        return None

    def check(self, arch: Arch) -> None:
        """Raise :class:`~accelsearch.errors.ArchError` if ``arch``'s stages do not chain or
        it breaks one of :attr:`constraints`; the message names the stage and field.

        Called by :meth:`build` and by ``decode`` (through :meth:`checked`). Overrides
        should call ``super().check(arch)``.
        """
        if not isinstance(arch, Arch):
            raise ArchError(f"space {self.name!r} checks an Arch, got {type(arch).__name__}")
        check_chain(arch)
        for rule in self.constraints:
            try:
                rule.check(arch)
            except ArchError as exc:
                raise ArchError(f"space {self.name!r}: {exc}") from None

    def checked(self, arch: Arch) -> Arch:
        """``arch`` after :meth:`check` (the last line of every ``decode``)."""
        self.check(arch)
        return arch

    def build(self, arch: Arch, num_classes: int = 1000, **kwargs: Any):
        """Build ``arch`` as an ``nn.Module``."""
        self.check(arch)
        return build_model(arch, num_classes=num_classes, **kwargs)

    # -- defaults ------------------------------------------------------------------------
    def reference(self, name: str) -> Arch:
        refs = self.references()
        if name not in refs:
            raise UnknownNameError(
                f"space {self.name!r} has no reference {name!r}; valid choices: "
                f"{choices_text(refs) or '(none)'}"
            )
        return refs[name]()

    def sample(self, rng: np.random.Generator | int | None = None) -> dict[str, Any]:
        rng = np.random.default_rng(rng)
        return {name: D.sample(dist, rng) for name, dist in self.params().items()}

    def sample_arch(self, rng: np.random.Generator | int | None = None) -> Arch:
        return self.decode(self.sample(rng))

    def validate_params(self, params: dict[str, Any]) -> None:
        D.check_params(self.params(), params, self.name)

    def size(self) -> int:
        """Number of architectures, exactly (Python integers do not overflow).

        The default counts parameter assignments; spaces whose distinct architectures are
        fewer (depth choices that hide later choices) override it. See :meth:`log10_size`.
        """
        return math.prod(D.cardinality(d) for d in self.params().values())

    def log10_size(self) -> float:
        """log10 of :meth:`size`, for display when the number is huge."""
        return math.log10(self.size())

    def tune_space(self) -> dict[str, Any]:
        return D.convert_all(self.params(), D.to_tune)

    def optuna_space(self) -> dict[str, Any]:
        return D.convert_all(self.params(), D.to_optuna)

    def pymoo_vars(self) -> dict[str, Any]:
        return D.convert_all(self.params(), D.to_pymoo)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"
