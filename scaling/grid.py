"""The grid of (α, β, γ) and the latency targets: what LACS and EfficientNet's scaling take.

:func:`validate_grid` and :func:`default_grid` (the paper's 1.0-1.4 neighbourhood) give the
triples; :func:`parse_targets` reads ``"2.0,x1.5"`` and :func:`resolve_targets` /
:func:`check_targets` turn targets into sorted milliseconds above the base latency.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from accelsearch.core.errors import ConfigError

Triple = tuple[float, float, float]

__all__ = ["check_targets", "default_grid", "parse_targets", "resolve_targets", "validate_grid"]


def validate_grid(grid: Sequence[Sequence[float]]) -> list[Triple]:
    """The grid as float triples; raises :class:`ConfigError` naming a bad value."""
    if grid is None or isinstance(grid, (str, bytes)) or len(grid) == 0:
        raise ConfigError("LACS grid is empty; give at least one (alpha, beta, gamma)")
    out: list[Triple] = []
    for entry in grid:
        if isinstance(entry, (str, bytes)) or not hasattr(entry, "__len__") or len(entry) != 3:
            raise ConfigError(
                f"LACS grid entry {entry!r} must be three numbers (alpha, beta, gamma)"
            )
        values = []
        for name, v in zip(("alpha", "beta", "gamma"), entry):
            try:
                f = float(v)
            except (TypeError, ValueError):
                raise ConfigError(
                    f"LACS grid entry {tuple(entry)}: {name}={v!r} is not a number"
                ) from None
            if not math.isfinite(f):
                raise ConfigError(f"LACS grid entry {tuple(entry)}: {name}={v!r} is not finite")
            if f < 1.0:
                raise ConfigError(
                    f"LACS grid entry {tuple(entry)}: {name}={v} is below 1; alpha, beta and "
                    "gamma must be >= 1 (scaling grows a model; phi spends the budget)"
                )
            values.append(f)
        if values == [1.0, 1.0, 1.0]:
            raise ConfigError(
                f"LACS grid entry {tuple(entry)} does not grow the model; one of alpha, beta, "
                "gamma must be > 1"
            )
        out.append((values[0], values[1], values[2]))
    return out


def default_grid(low: float = 1.0, high: float = 1.4, step: float = 0.05) -> list[Triple]:
    """The paper's neighbourhood: each of α, β, γ in [low, high] by ``step`` (9³ − 1 triples)."""
    if not (1.0 <= low < high) or step <= 0:
        raise ConfigError(
            f"default_grid needs 1 <= low < high and step > 0, got {low}, {high}, {step}"
        )
    n = int(round((high - low) / step)) + 1
    vals = [round(low + i * step, 6) for i in range(n)]
    return [(a, b, g) for a in vals for b in vals for g in vals if not a == b == g == 1.0]


_TARGET_RE = re.compile(r"^\s*(x|×)?\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms)?\s*$")


def parse_targets(text: str | Sequence[Any]) -> list[tuple[float, bool]]:
    """``"1.0,2ms,x1.5"`` -> [(1.0, False), (2.0, False), (1.5, True)]: ms or × base latency."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        if isinstance(item, (int, float)) and not isinstance(item, bool):
            out.append((float(item), False))
            continue
        m = _TARGET_RE.match(str(item))
        if not m:
            raise ConfigError(
                f"latency target {item!r} is neither milliseconds ('2.5', '2.5ms') nor a "
                "multiple of the base latency ('x1.5')"
            )
        out.append((float(m.group(2)), bool(m.group(1))))
    if not out:
        raise ConfigError("no latency targets given; e.g. --targets x1.5,x2 or 2.0,4.0")
    return out


def resolve_targets(targets: Sequence[tuple[float, bool]], base_ms: float) -> list[float]:
    """Targets in ms, sorted; each must lie above the base model's latency."""
    out = []
    for value, multiple in targets:
        if multiple and value <= 1.0:
            raise ConfigError(
                f"latency target x{value:g} is not above the base latency; multiples of the "
                "base latency must be > 1 (e.g. x1.5)"
            )
        ms = value * base_ms if multiple else value
        if not ms > base_ms:
            raise ConfigError(
                f"latency target {ms:.4g} ms is not above the base model's {base_ms:.4g} ms; "
                "family targets must be larger than the base latency (or give multiples such "
                "as x1.5)"
            )
        out.append(ms)
    return sorted(set(out))


def check_targets(targets_ms: Sequence[float] | None, base_ms: float) -> list[float]:
    """Absolute targets in ms, sorted and distinct; each must lie above ``base_ms``."""
    if targets_ms is None or len(targets_ms) == 0:
        raise ConfigError("LACS needs at least one latency target")
    targets = []
    for t in targets_ms:
        t = float(t)
        if not math.isfinite(t) or t <= base_ms:
            raise ConfigError(
                f"latency target {t:.4g} ms is not above the base model's {base_ms:.4g} ms; "
                "family targets must be larger than the base latency"
            )
        targets.append(t)
    return sorted(set(targets))
