"""NAS-Bench-201 cells and NATS-Bench sizes: the two CIFAR benchmark spaces.

Sources: Dong & Yang, *NAS-Bench-201* (ICLR 2020), and Dong et al., *NATS-Bench* (TPAMI 2021).

* ``nb201`` (NATS-Bench "topology" space): one cell, a DAG of 4 nodes whose 6 edges each
  carry one of ``none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3``; 5^6 = 15,625
  cells. The cell is repeated in a fixed CIFAR skeleton: stem conv 3×3 → C + BN, N cells at
  C, a ResNet basic block (stride 2) to 2C, N cells, a basic block to 4C, N cells, BN-ReLU,
  global pool, FC. C = 16, N = 5 in the benchmark. Convolutions are ReLU-Conv-BN.
* ``nats_size`` (NATS-Bench "size" space): the topology is fixed to the cell the benchmark
  picked (``|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|
  nor_conv_3x3~2|``, NB201 arch-index 9930) and the channels of the 5 layers (cell, block,
  cell, block, cell; N = 1) are chosen from 8, 16, ..., 64: 8^5 = 32,768 networks.

String form (the benchmark's): ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``; node i (1..3) lists
its input edges from nodes 0..i-1. ``index`` is the enumeration order of NB201's own
``Structure.gen_all`` (first edge most significant, ops in the order above); the benchmark
files are in a different (shuffled) order, so use the string to join with benchmark tables.

In an ``Arch`` a cell stage is ``Stage("nb201cell", width=C, depth=N, ops=<6 edge ops>)``,
the reduction block ``Stage("nb201res", width=2C, stride=2)`` and the final BN-ReLU
``Stage("bnact", width=4C)``; the stem is a plain ``conv`` stage with activation ``none``.

Measured (tests/spaces/test_nb201.py, 10 classes, 32 px): all-``nor_conv_3x3`` 1.53 M params
and 220.1 M multiply-adds, cells of only ``skip``/``none`` 0.073 M and 7.78 M: the
benchmark's published ranges (0.07-1.53 MB, 7.8-220 MFLOPs).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ArchError, ConfigError, choices_text
from accelsearch.spaces.base import SearchSpace
from accelsearch.spaces.distributions import Categorical, IntRange, Ordinal
from accelsearch.spaces.nb201_blocks import EDGES, OPS, check_ops

# the blocks moved to nb201_blocks; their names stay importable from here
from accelsearch.spaces.nb201_blocks import BnAct as BnAct
from accelsearch.spaces.nb201_blocks import Nb201Cell as Nb201Cell
from accelsearch.spaces.nb201_blocks import Nb201ResBlock as Nb201ResBlock
from accelsearch.spaces.registry import register_space

#: the cell NATS-Bench's size space fixes (NB201 arch-index 9930)
NATS_SIZE_CELL = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|"
NATS_CHANNELS = tuple(range(8, 65, 8))


# -- the string form and the index -------------------------------------------------------------
def parse_cell(text: str) -> tuple[str, ...]:
    """``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|`` -> the 6 edge ops in string order."""
    if not isinstance(text, str):
        raise ArchError(f"an NB201 cell string must be a str, got {type(text).__name__}")
    nodes = text.strip().split("+")
    if len(nodes) != 3:
        raise ArchError(
            f"NB201 cell string {text!r} has {len(nodes)} node groups separated by '+'; "
            "it needs 3, e.g. '|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...~0|...~1|...~2|'"
        )
    ops: list[str] = []
    for i, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")):
            raise ArchError(f"node {i} of NB201 cell string {text!r} must be wrapped in '|'")
        edges = node[1:-1].split("|")
        if len(edges) != i:
            raise ArchError(
                f"node {i} of NB201 cell string {text!r} has {len(edges)} input edges; "
                f"it needs {i} (from nodes 0..{i - 1})"
            )
        for j, edge in enumerate(edges):
            op, sep, src = edge.partition("~")
            if not sep or src != str(j):
                raise ArchError(
                    f"edge {edge!r} of node {i} in {text!r} must read '<op>~{j}' (inputs in order)"
                )
            if op not in OPS:
                raise ArchError(
                    f"edge {j}->{i} of NB201 cell string {text!r} has op {op!r}; "
                    f"valid choices: {choices_text(OPS)}"
                )
            ops.append(op)
    return tuple(ops)


def cell_string(ops: Sequence[str]) -> str:
    """The 6 edge ops -> the benchmark's string form."""
    ops = check_ops(ops, "cell_string")
    groups = []
    for node in (1, 2, 3):
        groups.append(
            "|" + "|".join(f"{op}~{j}" for (i, j), op in zip(EDGES, ops) if i == node) + "|"
        )
    return "+".join(groups)


def cell_index(ops: Sequence[str]) -> int:
    """Position of a cell in ``Structure.gen_all`` order (0 .. 15,624)."""
    ops = check_ops(ops, "cell_index")
    index = 0
    for op in ops:
        index = index * len(OPS) + OPS.index(op)
    return index


def cell_from_index(index: int) -> tuple[str, ...]:
    """Inverse of :func:`cell_index`."""
    total = len(OPS) ** len(EDGES)
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < total:
        raise ArchError(f"NB201 cell index must be an integer in [0, {total - 1}], got {index!r}")
    ops = []
    for _ in EDGES:
        index, digit = divmod(index, len(OPS))
        ops.append(OPS[digit])
    return tuple(reversed(ops))


# -- building Archs -----------------------------------------------------------------------------
def cifar_arch(
    cells: Sequence[Sequence[str]],
    channels: Sequence[int],
    cells_per_stage: int,
    resolution: int = 32,
) -> Arch:
    """The NB201/NATS skeleton: 3 cell stages and 2 reduction blocks, widths ``channels`` (5)."""
    c = list(channels)
    stages = []
    for k in range(5):
        if k % 2 == 0:
            ops = tuple(cells[k // 2])
            stages.append(Stage("nb201cell", width=c[k], depth=cells_per_stage, ops=ops))
        else:
            stages.append(Stage("nb201res", width=c[k], stride=2, act="relu"))
    stages.append(Stage("bnact", width=c[-1], act="relu"))
    return Arch(
        resolution=resolution,
        stem=Stage("conv", width=c[0], kernel=3, stride=1, act="none"),
        stages=tuple(stages),
        head=Head(width=0, act="relu", dropout=0.0),
    )


def _cells_of(arch: Arch, where: str) -> list[tuple[str, ...]]:
    cells = [st.ops for st in arch.stages if st.type == "nb201cell"]
    if not cells:
        raise ArchError(f"{where}: arch has no 'nb201cell' stage; it is not an NB201 network")
    return cells


@register_space("nb201")
class Nb201Space(SearchSpace):
    """NAS-Bench-201 cell space (15,625 cells) in the benchmark's CIFAR skeleton.

    Options: ``channels`` (C of the first stage, 16), ``cells_per_stage`` (N, 5),
    ``resolution`` (32), ``ops`` (the allowed edge ops; all five by default). Use small
    values (``channels=8, cells_per_stage=1``) for quick experiments.
    """

    source = "Dong & Yang, NAS-Bench-201, ICLR 2020, §2 and Fig. 1 (NATS-Bench topology space)"
    resolution_multiple = 8

    def __init__(
        self,
        *,
        channels: int = 16,
        cells_per_stage: int = 5,
        resolution: int = 32,
        ops: Sequence[str] = OPS,
    ) -> None:
        if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
            raise ConfigError(f"nb201 option channels must be a positive integer, got {channels!r}")
        if (
            isinstance(cells_per_stage, bool)
            or not isinstance(cells_per_stage, int)
            or cells_per_stage < 1
        ):
            raise ConfigError(
                f"nb201 option cells_per_stage must be a positive integer, got {cells_per_stage!r}"
            )
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 4:
            raise ConfigError(
                f"nb201 option resolution must be an integer >= 4, got {resolution!r}"
            )
        bad = [op for op in ops if op not in OPS]
        if bad or not ops:
            raise ConfigError(
                f"nb201 option ops has {bad or 'no ops'}; valid choices: {choices_text(OPS)}"
            )
        self.channels = channels
        self.cells_per_stage = cells_per_stage
        self.resolution = resolution
        self.ops = tuple(op for op in OPS if op in ops)

    # -- declaration --------------------------------------------------------------------------
    @staticmethod
    def param_name(to_node: int, from_node: int) -> str:
        return f"node{to_node}_from{from_node}"

    def params(self) -> dict[str, Any]:
        return {self.param_name(i, j): Categorical(self.ops) for i, j in EDGES}

    def decode(self, params: dict[str, Any]) -> Arch:
        self.validate_params(params)
        ops = tuple(params[self.param_name(i, j)] for i, j in EDGES)
        return self.arch_from_ops(ops)

    def encode(self, arch: Arch) -> dict[str, Any]:
        ops = self.ops_of(arch)
        params = {self.param_name(i, j): op for (i, j), op in zip(EDGES, ops)}
        if self.decode(params) != arch:
            raise ArchError(
                "arch is not a point of this nb201 space: its skeleton (channels, cells per "
                f"stage, resolution) differs from C={self.channels}, N={self.cells_per_stage}, "
                f"{self.resolution} px"
            )
        return params

    def references(self) -> dict[str, Callable[[], Arch]]:
        return {"nats-size-cell": lambda: self.from_string(NATS_SIZE_CELL)}

    # -- cells ----------------------------------------------------------------------------------
    def arch_from_ops(self, ops: Sequence[str]) -> Arch:
        ops = check_ops(ops, "nb201")
        c = self.channels
        arch = cifar_arch(
            [ops] * 3, (c, 2 * c, 2 * c, 4 * c, 4 * c), self.cells_per_stage, self.resolution
        )
        return self.checked(arch)

    def ops_of(self, arch: Arch) -> tuple[str, ...]:
        """The 6 edge ops of ``arch``'s cell (all its cell stages must share one cell)."""
        cells = _cells_of(arch, "nb201")
        if any(cell != cells[0] for cell in cells):
            raise ArchError(f"nb201 archs repeat one cell; this arch has {sorted(set(cells))}")
        return check_ops(cells[0], "nb201")

    def from_string(self, text: str) -> Arch:
        """The ``Arch`` of a cell given in the benchmark's string form."""
        return self.arch_from_ops(parse_cell(text))

    def to_string(self, arch: Arch) -> str:
        return cell_string(self.ops_of(arch))

    def from_index(self, index: int) -> Arch:
        return self.arch_from_ops(cell_from_index(index))

    def index(self, arch_or_string: Arch | str) -> int:
        """``gen_all`` index of an arch or a cell string."""
        if isinstance(arch_or_string, str):
            return cell_index(parse_cell(arch_or_string))
        return cell_index(self.ops_of(arch_or_string))


@register_space("nats_size")
class NatsSizeSpace(SearchSpace):
    """NATS-Bench size space: 5 layer widths from 8..64 step 8 around a fixed cell (32,768)."""

    source = "Dong et al., NATS-Bench, TPAMI 2021, §3 (size search space S_s)"
    resolution_multiple = 8

    def __init__(
        self,
        *,
        channels: Sequence[int] = NATS_CHANNELS,
        cell: str = NATS_SIZE_CELL,
        resolution: int = 32,
    ) -> None:
        chans = tuple(sorted(set(int(c) for c in channels)))
        if not chans or chans[0] < 1:
            raise ConfigError(
                f"nats_size option channels must be positive integers, got {channels}"
            )
        self.channels = chans
        self.cell = parse_cell(cell)
        self.resolution = int(resolution)

    def params(self) -> dict[str, Any]:
        chans = self.channels
        steps = {b - a for a, b in zip(chans, chans[1:])}
        if len(steps) <= 1:
            dist = IntRange(chans[0], chans[-1], steps.pop() if steps else 1)
        else:
            dist = Ordinal(chans)
        return {f"layer{k}_channels": dist for k in range(5)}

    def decode(self, params: dict[str, Any]) -> Arch:
        self.validate_params(params)
        return self.arch_from_channels([params[f"layer{k}_channels"] for k in range(5)])

    def encode(self, arch: Arch) -> dict[str, Any]:
        widths = self.channels_of(arch)
        params = {f"layer{k}_channels": w for k, w in enumerate(widths)}
        try:
            rebuilt = self.decode(params)
        except ConfigError as exc:
            raise ArchError(f"arch is not a point of this nats_size space: {exc}") from None
        if rebuilt != arch:
            raise ArchError(
                "arch is not a point of this nats_size space (its cell, depth or resolution "
                f"differs from {cell_string(self.cell)!r}, N=1, {self.resolution} px)"
            )
        return params

    def references(self) -> dict[str, Callable[[], Arch]]:
        return {"nats-size-largest": lambda: self.from_string("64:64:64:64:64")}

    def arch_from_channels(self, channels: Sequence[int]) -> Arch:
        channels = [int(c) for c in channels]
        if len(channels) != 5:
            raise ArchError(f"a NATS size network has 5 layer widths, got {len(channels)}")
        return self.checked(cifar_arch([self.cell] * 3, channels, 1, self.resolution))

    def channels_of(self, arch: Arch) -> tuple[int, ...]:
        body = [st for st in arch.stages if st.type in ("nb201cell", "nb201res")]
        if len(body) != 5:
            raise ArchError(
                f"a NATS size network has 5 cell/reduction layers, this arch has {len(body)}"
            )
        return tuple(st.width for st in body)

    def from_string(self, text: str) -> Arch:
        """``"64:32:48:16:64"`` (NATS-Bench's channel string) -> ``Arch``."""
        parts = str(text).split(":")
        try:
            chans = [int(p) for p in parts]
        except ValueError:
            raise ArchError(
                f"NATS size string {text!r} must be 5 integers joined by ':', e.g. '64:64:64:64:64'"
            ) from None
        return self.arch_from_channels(chans)

    def to_string(self, arch: Arch) -> str:
        return ":".join(str(c) for c in self.channels_of(arch))
