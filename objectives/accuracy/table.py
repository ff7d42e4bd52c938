"""Accuracy looked up in a published table instead of trained.

``TableAccuracy`` maps keys (an NB201 cell string, a timm model name) to accuracy in
percent. A key that is not in the table raises ``KeyError`` (an
:class:`~accelsearch.errors.UnknownNameError`) naming close matches: never a silent zero.

* :meth:`TableAccuracy.nb201` reads NATS-Bench's topology table (``nats_bench_tss.csv``):
  key ``ArchitectureString`` (``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``), one column per
  dataset (``cifar10``, ``cifar100``, ``ImageNet16-120``: test accuracy after 200 epochs).
* :meth:`TableAccuracy.timm` reads timm's ``results-imagenet.csv``: ``model`` is
  ``arch.tag``; a bare ``arch`` works when only one tag of it is listed; a model evaluated at
  several ``img_size`` is resolved by ``img_size=`` (default: its best top-1 row);
  ``param_count`` may be quoted with a thousands separator (``"1,014.45"``).
* :meth:`TableAccuracy.from_csv` reads any CSV with a key column and a value column.

:class:`TableEvaluator` (accuracy evaluator ``"table"``) turns an ``Arch`` into its key (an
NB201 cell string through the ``nb201`` space, a timm model name from a ``timm`` stage) and
looks it up, so a search over NAS-Bench-201 needs no training at all.
"""

from __future__ import annotations

import csv
import difflib
import math
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import accelsearch.data as packaged_data
import accelsearch.spaces as spaces
from accelsearch.core.arch import Arch
from accelsearch.core.errors import ConfigError, UnknownNameError, choices_text
from accelsearch.objectives.accuracy.base import AccuracyEvaluator, Report

#: NATS-Bench topology table: dataset name -> column
NB201_COLUMNS = {
    "cifar10": "CIFAR10TestAccuracy200Epochs",
    "cifar100": "CIFAR100TestAccuracy200Epochs",
    "ImageNet16-120": "ImageNetTestAccuracy200Epochs",
}
NB201_KEY = "ArchitectureString"
_NB201_ALIASES = {
    "cifar10": "cifar10",
    "cifar-10": "cifar10",
    "cifar100": "cifar100",
    "cifar-100": "cifar100",
    "imagenet16-120": "ImageNet16-120",
    "imagenet16": "ImageNet16-120",
    "imagenet": "ImageNet16-120",
}


def parse_number(text: str | float | int) -> float:
    """``"1,014.45"`` -> 1014.45; ``""`` or ``"nan"`` -> NaN."""
    if isinstance(text, (int, float)):
        return float(text)
    cleaned = str(text).strip().replace(",", "").replace("_", "")
    if not cleaned:
        return math.nan
    return float(cleaned)


class TableAccuracy:
    """Accuracy (percent) by key, read from a CSV; ``lookup(key)`` or ``table[key]``."""

    def __init__(
        self,
        values: dict[str, float],
        *,
        rows: dict[str, dict[str, Any]] | None = None,
        aliases: dict[str, list[str]] | None = None,
        source: str = "",
        column: str = "",
    ) -> None:
        self._values = dict(values)
        self._rows = rows or {}
        self._aliases = aliases or {}
        self.source = source
        self.column = column
        self.dataset = ""

    # -- constructors -----------------------------------------------------------------------
    @classmethod
    def from_csv(
        cls,
        csv_path: str | os.PathLike,
        key_column: str,
        value_column: str,
        *,
        normalise_key: Callable[[str], str] = str.strip,
    ) -> TableAccuracy:
        """Any CSV: ``key_column`` -> float(``value_column``); a repeated key is an error."""
        rows = _read_csv(csv_path, (key_column, value_column))
        values: dict[str, float] = {}
        by_key: dict[str, dict[str, Any]] = {}
        for line, row in rows:
            key = normalise_key(row[key_column])
            if key in values:
                raise ConfigError(
                    f"{csv_path}: line {line}: key {key!r} appears twice in column {key_column!r}"
                )
            values[key] = _value(row[value_column], csv_path, line, value_column)
            by_key[key] = row
        return cls(values, rows=by_key, source=str(csv_path), column=value_column)

    @classmethod
    def nb201(cls, csv_path: str | os.PathLike, dataset: str = "cifar10") -> TableAccuracy:
        """NATS-Bench topology table; ``dataset`` is ``cifar10``, ``cifar100`` or
        ``ImageNet16-120`` (test accuracy after 200 epochs, mean over seeds)."""
        canon = _NB201_ALIASES.get(str(dataset).lower())
        if canon is None:
            raise ConfigError(
                f"NB201 dataset {dataset!r} is unknown; valid choices: {choices_text(NB201_COLUMNS)}"
            )
        table = cls.from_csv(
            csv_path, NB201_KEY, NB201_COLUMNS[canon], normalise_key=lambda s: s.strip()
        )
        table.dataset = canon
        return table

    @classmethod
    def timm(
        cls,
        csv_path: str | os.PathLike,
        metric: str = "top1",
        img_size: int | None = None,
    ) -> TableAccuracy:
        """timm's ``results-imagenet.csv`` (``metric``: ``top1`` or ``top5``).

        Keys are the full ``arch.tag`` names; the bare ``arch`` is an alias when one tag of
        it is listed. A model listed at several ``img_size`` gives the row at ``img_size``
        when that is set, else the row with the best ``metric``.
        """
        if metric not in ("top1", "top5"):
            raise ConfigError(f"timm table metric {metric!r}; valid choices: 'top1', 'top5'")
        rows = _read_csv(csv_path, ("model", metric, "img_size"))
        values: dict[str, float] = {}
        by_key: dict[str, dict[str, Any]] = {}
        for line, row in rows:
            name = row["model"].strip()
            value = _value(row[metric], csv_path, line, metric)
            size = int(parse_number(row["img_size"]))
            if img_size is not None and size != img_size:
                continue
            if name in values and values[name] >= value:
                continue
            parsed: dict[str, Any] = dict(row)
            for col in (
                "img_size",
                "top1",
                "top1_err",
                "top5",
                "top5_err",
                "param_count",
                "crop_pct",
            ):
                if col in parsed and parsed[col] not in (None, ""):
                    parsed[col] = parse_number(parsed[col])
            parsed["img_size"] = size
            values[name] = value
            by_key[name] = parsed
        if not values:
            raise ConfigError(
                f"{csv_path}: no rows"
                + (f" at img_size {img_size}" if img_size is not None else "")
            )
        aliases: dict[str, list[str]] = {}
        for name in values:
            arch, _, tag = name.partition(".")
            if tag:
                aliases.setdefault(arch, []).append(name)
        return cls(values, rows=by_key, aliases=aliases, source=str(csv_path), column=metric)

    # -- lookups ----------------------------------------------------------------------------
    def resolve(self, key: str) -> str:
        """The table's own key for ``key`` (a full key, or an unambiguous alias)."""
        if not isinstance(key, str):
            raise UnknownNameError(f"table keys are strings, got {type(key).__name__} {key!r}")
        k = key.strip()
        if k in self._values:
            return k
        full = self._aliases.get(k)
        if full is not None and len(full) == 1:
            return full[0]
        if full:
            raise UnknownNameError(
                f"{k!r} is ambiguous in {self._where()}: {len(full)} entries "
                f"({choices_text(sorted(full)[:8])}{', ...' if len(full) > 8 else ''}); "
                "give the full name"
            )
        close = difflib.get_close_matches(k, list(self._values) + list(self._aliases), n=3)
        hint = f"; close matches: {choices_text(close)}" if close else ""
        raise UnknownNameError(
            f"{k!r} is not in {self._where()} ({len(self._values)} entries){hint}"
        )

    def lookup(self, key: str) -> float:
        """Accuracy in percent for ``key``; ``KeyError`` when the table lacks it."""
        return self._values[self.resolve(key)]

    def row(self, key: str) -> dict[str, Any]:
        """The whole CSV row of ``key`` (numbers parsed for timm's table)."""
        return dict(self._rows.get(self.resolve(key), {}))

    def _where(self) -> str:
        name = Path(self.source).name if self.source else "the table"
        return f"{name} [{self.column}]" if self.column else name

    def __getitem__(self, key: str) -> float:
        return self.lookup(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        try:
            self.resolve(key)
        except KeyError:
            return False
        return True

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def keys(self) -> list[str]:
        return list(self._values)

    def items(self) -> list[tuple[str, float]]:
        return list(self._values.items())

    def __repr__(self) -> str:
        return f"<TableAccuracy {self._where()}: {len(self)} entries>"


def _read_csv(csv_path, required: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    path = Path(csv_path)
    if not path.is_file():
        raise ConfigError(f"accuracy table {str(path)!r} does not exist")
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            missing = [c for c in required if c not in header]
            if missing:
                raise ConfigError(f"{path}: column(s) {missing} missing; the header has {header}")
            rows = [(i + 2, row) for i, row in enumerate(reader)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"accuracy table {str(path)!r} cannot be read: {exc}") from None
    if not rows:
        raise ConfigError(f"accuracy table {str(path)!r} has a header but no rows")
    return rows


def _value(text, path, line: int, column: str) -> float:
    try:
        value = parse_number(text)
    except (TypeError, ValueError):
        raise ConfigError(f"{path}: line {line}: {column} is {text!r}, not a number") from None
    if not math.isfinite(value):
        raise ConfigError(f"{path}: line {line}: {column} is empty or not finite ({text!r})")
    return value


# -- keys of archs --------------------------------------------------------------------------------
def nb201_key(arch: Arch) -> str:
    """NB201 cell string of ``arch`` (conversion by the ``nb201`` space, found by name)."""
    return spaces.get("nb201").to_string(arch)


def timm_key(arch: Arch) -> str:
    """timm model name of an arch with a ``timm`` stage (the ``timm_zoo`` space's form)."""
    names = [st.ops[0] for st in arch.stages if st.type == "timm" and st.ops]
    if len(names) != 1:
        raise ConfigError(
            f"arch {str(arch)[:80]!r} has {len(names)} 'timm' stage(s); the timm table needs "
            "an arch of the timm_zoo space (one stage of type 'timm' naming the model)"
        )
    return names[0]


class TableEvaluator(AccuracyEvaluator):
    """Accuracy from a published table (``accuracy.evaluator: table``).

    Options: ``table`` (``nb201`` or ``timm``), ``csv`` (the file; for ``timm`` it defaults
    to the copy of timm's ``results-imagenet.csv`` packaged in :mod:`accelsearch.data`), ``dataset`` (NB201:
    ``cifar10``, ``cifar100``, ``ImageNet16-120``), ``metric`` and ``img_size`` (timm).
    In Python, ``key`` may be any ``Arch -> str`` function and ``accuracy`` a ready
    :class:`TableAccuracy`. An arch missing from the table fails its trial with the reason.
    """

    name = "table"
    KINDS = ("nb201", "timm")

    def __init__(
        self,
        table: str = "nb201",
        csv: str | None = None,
        *,
        dataset: str = "cifar10",
        metric: str = "top1",
        img_size: int | None = None,
        key: Callable[[Arch], str] | None = None,
        accuracy: TableAccuracy | None = None,
    ) -> None:
        if table not in self.KINDS:
            raise ConfigError(
                f"table evaluator kind {table!r}; valid choices: {choices_text(self.KINDS)}"
            )
        if accuracy is None and csv is None and table == "timm":
            csv = str(packaged_data.timm_imagenet_results())  # ships with the package
        if accuracy is None and csv is None:
            raise ConfigError(
                "table evaluator needs csv: the path of the table (e.g. nats_bench_tss.csv "
                "for nb201, results-imagenet.csv for timm)"
            )
        self.kind = table
        self.csv = csv
        self.dataset = dataset
        self.metric = metric
        self.img_size = img_size
        self.key = key or (nb201_key if table == "nb201" else timm_key)
        if accuracy is None:
            if not Path(csv).is_file():
                raise ConfigError(f"accuracy table {csv!r} does not exist")
        self._table = accuracy

    @property
    def table(self) -> TableAccuracy:
        """The table, read on first use (so recipes validate without reading it)."""
        if self._table is None:
            if self.kind == "nb201":
                self._table = TableAccuracy.nb201(self.csv, self.dataset)
            else:
                self._table = TableAccuracy.timm(self.csv, self.metric, self.img_size)
        return self._table

    def describe(self) -> str:
        what = self.dataset if self.kind == "nb201" else self.metric
        return f"table({self.kind}, {what}, {Path(self.csv).name if self.csv else 'in memory'})"

    def evaluate(self, arch: Arch, report: Report | None = None) -> float:
        acc = self.table.lookup(self.key(arch))
        if report is not None:
            report(1, acc)
        return acc
