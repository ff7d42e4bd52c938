"""How latency is measured, as a recipe writes it: backend, device, precision, batch size,
timing protocol and backend options (``accelsearch.objectives.latency_spec``).

A recipe's ``latency`` section is a :class:`LatencySpec`, and so is the ``latency`` option
of search strategy ``utilization-filter``; both are checked by the same rules. The names
are checked against ``accelsearch.objectives.latency`` when a spec is validated; that
package (PyTorch) is imported then, so importing this module stays light.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accelsearch.core.errors import AccelSearchError, choices_text

#: exceptions a protocol constructor raises for a field of the wrong kind
OPTION_ERRORS = (TypeError, ValueError, OverflowError)


class LatencySpec(BaseModel):
    """How latency is measured: backend, device, precision, batch size, timing protocol."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)

    backend: str = "auto"
    device: str = "auto"
    precision: str | None = None
    batch_size: int = Field(1, ge=1)
    protocol: dict[str, Any] = Field(default_factory=dict)
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("backend")
    @classmethod
    def _known(cls, v: str) -> str:
        from accelsearch.objectives import latency  # heavy (torch): only when validating

        valid = ["auto", *latency.BACKENDS.names()]
        if v not in valid:
            raise ValueError(f"unknown latency backend {v!r}; valid choices: {choices_text(valid)}")
        return v

    @field_validator("device")
    @classmethod
    def _device(cls, v: str) -> str:
        if v not in ("auto", "cpu", "cuda") and not re.fullmatch(r"cuda:\d+", v):
            raise ValueError("unknown latency device; valid: 'auto', 'cpu', 'cuda', 'cuda:N'")
        return v

    @field_validator("precision")
    @classmethod
    def _precision(cls, v: str | None) -> str | None:
        from accelsearch.objectives.latency.base import PRECISIONS  # heavy (torch), as above

        if v is not None and v not in PRECISIONS:
            raise ValueError(f"unknown precision {v!r}; valid choices: {choices_text(PRECISIONS)}")
        return v

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, v: dict[str, Any]) -> dict[str, Any]:
        from accelsearch.objectives.latency.protocol import Protocol  # heavy, as above

        try:
            Protocol(**v)
        except AccelSearchError as exc:
            raise ValueError(str(exc)) from None
        except OPTION_ERRORS as exc:
            raise ValueError(f"bad latency protocol field: {exc}") from None
        return v
