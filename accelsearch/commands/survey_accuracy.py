"""The published-accuracy side of ``accelsearch survey``: reading timm's
``results-imagenet.csv`` (:func:`read_accuracy_csv`, into :class:`AccuracyRow` per
architecture) and picking a model's row by its pretrained tag and input size
(:func:`match_accuracy`)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from accelsearch.core.errors import ConfigError


@dataclass(frozen=True)
class AccuracyRow:
    model: str  # arch.tag as in the CSV
    img_size: int
    top1: float
    param_count: float | None


def _number(text: str | None) -> float | None:
    if text is None:
        return None
    text = text.strip().replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def read_accuracy_csv(path: str | Path) -> dict[str, list[AccuracyRow]]:
    """Rows of a timm results CSV by architecture name (the part of ``model`` before the
    first dot). ``param_count`` values such as ``"1,014.45"`` are read as numbers."""

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"accuracy CSV {str(p)!r} does not exist")
    out: dict[str, list[AccuracyRow]] = {}
    with open(p, newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"model", "top1"} - set(reader.fieldnames or ())
        if missing:
            raise ConfigError(
                f"accuracy CSV {str(p)!r} lacks column(s) {sorted(missing)}; it needs 'model' "
                "(arch or arch.tag), 'top1' and optionally 'img_size', 'param_count'"
            )
        for row in reader:
            top1 = _number(row.get("top1"))
            if top1 is None:
                continue
            size = _number(row.get("img_size"))
            r = AccuracyRow(
                row["model"], int(size) if size else 0, top1, _number(row.get("param_count"))
            )
            out.setdefault(row["model"].split(".")[0], []).append(r)
    return out


def match_accuracy(
    rows: dict[str, list[AccuracyRow]], arch: str, tag: str | None, resolution: int | None
) -> AccuracyRow | None:
    """The accuracy row for a timm architecture: its default ``tag`` if present (else any
    tag), at ``resolution`` if given (else the closest), else the row at the smallest size."""
    cands = rows.get(arch, [])
    if tag:
        tagged = [r for r in cands if r.model == f"{arch}.{tag}"]
        cands = tagged or cands
    if not cands:
        return None
    if resolution:
        return min(cands, key=lambda r: (abs(r.img_size - resolution), -r.top1))
    return min(cands, key=lambda r: (r.img_size, -r.top1))
