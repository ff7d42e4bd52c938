"""Latency predictors for LACS: cheap guesses that prune the grid and narrow φ's bracket.

A prediction never becomes a member's latency: LACS measures every member. Predictors only
decide which (α, β, γ) are worth measuring and where the first φ probe goes, and the φ
solver corrects them with the measurements it makes (it assumes measured/predicted changes
slowly along φ).

The predictors themselves are the latency room's
(:mod:`accelsearch.objectives.latency.predictors`): LACS calls
:meth:`~LatencyPredictor.calibrate` once with the base model and its measured latency, then
:meth:`~LatencyPredictor.predict_ms`. ``"flops"`` (the default) is latency ∝ FLOPs of
:class:`StageFlops`; ``"lut"`` is the lookup table.
"""

from __future__ import annotations

from typing import Any

from accelsearch.core.accounting import count_flops
from accelsearch.core.errors import ConfigError, choices_text
from accelsearch.objectives.latency.predictors import (
    PREDICTORS as _REGISTRY,
)
from accelsearch.objectives.latency.predictors import (
    CallablePredictor,
    FlopsPredictor,
    LatencyPredictor,
    StageFlops,
    create,
)

#: the names LACS takes (the registry's and "none")
PREDICTORS = (*_REGISTRY.names(), "none")


def make_predictor(spec: Any = "flops", **options: Any) -> LatencyPredictor | None:
    """A predictor from a name (``"flops"``, ``"lut"``, ``"none"``), an instance or a function.

    ``options`` go to the predictor (``build`` to FLOPs; batch size, precision, device ...
    to the lookup table).
    """
    if isinstance(spec, str) and spec not in PREDICTORS:
        raise ConfigError(
            f"unknown LACS latency predictor {spec!r}; valid choices: {choices_text(PREDICTORS)}, "
            "a LatencyPredictor or a function arch -> ms"
        )
    return create(spec, **options)


__all__ = [
    "PREDICTORS",
    "CallablePredictor",
    "FlopsPredictor",
    "LatencyPredictor",
    "StageFlops",
    "count_flops",
    "make_predictor",
]
