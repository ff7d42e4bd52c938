"""NAS-Bench-201 cells and NATS-Bench sizes: strings, indices, skeleton, published sizes."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from accelsearch import spaces
from accelsearch.core.accounting import model_cost
from accelsearch.core.arch import Arch
from accelsearch.core.errors import ArchError, ConfigError
from accelsearch.spaces import nb201

ALL_3X3 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|"
SKIP_NONE = "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|"
ALL_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"


def test_space_size_and_registration():
    assert "nb201" in spaces.list() and "nats_size" in spaces.list()
    assert spaces.get("nb201").size() == 15625
    assert spaces.get("nats_size").size() == 32768
    assert spaces.get("nb201", ops=("nor_conv_3x3", "skip_connect")).size() == 2**6


def test_string_index_round_trip_over_the_whole_space():
    seen = set()
    for i in range(15625):
        ops = nb201.cell_from_index(i)
        text = nb201.cell_string(ops)
        assert nb201.parse_cell(text) == ops
        assert nb201.cell_index(ops) == i
        seen.add(text)
    assert len(seen) == 15625
    # gen_all order: first edge most significant, ops in NB201's order
    assert nb201.cell_string(nb201.cell_from_index(0)) == ALL_NONE
    assert nb201.cell_from_index(1)[-1] == "skip_connect"
    assert nb201.cell_from_index(5**5)[0] == "skip_connect"


def test_from_string_gives_the_cell_arch():
    space = spaces.get("nb201")
    arch = space.from_string(ALL_3X3)
    assert isinstance(arch, Arch)
    cells = [st for st in arch.stages if st.type == "nb201cell"]
    assert [st.width for st in cells] == [16, 32, 64]
    assert all(st.depth == 5 and st.ops == ("nor_conv_3x3",) * 6 for st in cells)
    assert [st.type for st in arch.stages] == [
        "nb201cell",
        "nb201res",
        "nb201cell",
        "nb201res",
        "nb201cell",
        "bnact",
    ]
    assert arch.stem.width == 16 and arch.stem.act == "none" and arch.resolution == 32
    assert space.to_string(arch) == ALL_3X3
    # op nor_conv_3x3 is digit 3 on every edge: 3 * (5^6 - 1) / 4
    assert space.index(arch) == space.index(ALL_3X3) == 11718
    assert space.from_index(space.index(arch)) == arch
    # the Arch's own text forms stay exact round trips
    assert Arch.from_string(str(arch)) == arch and Arch.from_json(arch.to_json()) == arch


def test_encode_decode_round_trip_and_sampling():
    space = spaces.get("nb201")
    rng = np.random.default_rng(0)
    for _ in range(50):
        params = space.sample(rng)
        arch = space.decode(params)
        assert space.encode(arch) == params
        assert space.from_string(space.to_string(arch)) == arch


@pytest.mark.parametrize(
    "cell, params, macs",
    [
        # NAS-Bench-201 (CIFAR-10): 0.07-1.53 MB params, 7.78-220.11 M FLOPs (multiply-adds)
        (ALL_3X3, 1_531_546, 220_119_680),
        (SKIP_NONE, 73_306, 7_783_040),
        (ALL_NONE, 73_306, 7_783_040),
    ],
)
def test_published_sizes_at_10_classes(cell, params, macs):
    space = spaces.get("nb201")
    cost = model_cost(space.build(space.from_string(cell), num_classes=10), 32)
    assert cost.params == params
    assert cost.macs == macs
    assert cost.params / 1e6 == pytest.approx(1.53 if cell == ALL_3X3 else 0.073, rel=0.01)


def test_random_cells_forward_cheaply():
    space = spaces.get("nb201", channels=8, cells_per_stage=1)
    rng = np.random.default_rng(1)
    x = torch.randn(2, 3, 32, 32)
    for _ in range(50):
        model = space.build(space.sample_arch(rng), num_classes=10).eval()
        with torch.no_grad():
            out = model(x)
        assert out.shape == (2, 10) and torch.isfinite(out).all()


def test_nats_size_space():
    space = spaces.get("nats_size")
    arch = space.from_string("64:64:64:64:64")
    assert space.to_string(arch) == "64:64:64:64:64"
    cells = [st for st in arch.stages if st.type == "nb201cell"]
    assert all(st.depth == 1 and nb201.cell_string(st.ops) == nb201.NATS_SIZE_CELL for st in cells)
    # regression figures of the largest and smallest networks (10 classes, 32 px)
    big = model_cost(space.build(arch, num_classes=10), 32)
    small = model_cost(space.build(space.from_string("8:8:8:8:8"), num_classes=10), 32)
    assert (big.params, big.macs) == (713_674, 274_399_872)
    assert (small.params, small.macs) == (11_714, 4_481_104)
    rng = np.random.default_rng(2)
    x = torch.randn(1, 3, 32, 32)
    for _ in range(50):
        params = space.sample(rng)
        a = space.decode(params)
        assert space.encode(a) == params
        assert space.from_string(space.to_string(a)) == a
        with torch.no_grad():
            assert space.build(a, num_classes=10).eval()(x).shape == (1, 10)


@pytest.mark.parametrize(
    "text, words",
    [
        ("|nor_conv_3x3~0|+|none~0|", ["2 node groups", "needs 3"]),
        (
            "|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|",
            ["'conv'", "valid choices", "edge 0->1"],
        ),
        ("|none~0|+|none~1|none~0|+|none~0|none~1|none~2|", ["'<op>~0'"]),
        ("|none~0|+|none~0|+|none~0|none~1|none~2|", ["node 2", "needs 2"]),
    ],
)
def test_bad_strings_say_what_is_wrong(text, words):
    with pytest.raises(ArchError) as err:
        spaces.get("nb201").from_string(text)
    for word in words:
        assert word in str(err.value)


def test_bad_params_and_foreign_archs():
    space = spaces.get("nb201")
    params = space.sample(0)
    params["node1_from0"] = "conv_7x7"
    with pytest.raises(ConfigError, match="node1_from0"):
        space.decode(params)
    with pytest.raises(ArchError, match="not a point"):
        space.encode(spaces.get("nb201", channels=8).from_string(ALL_3X3))
    with pytest.raises(ArchError, match="no 'nb201cell'"):
        space.encode(spaces.get("efficientnet_x").reference("efficientnet-x-b0"))
    with pytest.raises(ArchError, match="5 integers"):
        spaces.get("nats_size").from_string("64-64")
    with pytest.raises(ConfigError, match="ops"):
        spaces.get("nb201", ops=("sep_conv_3x3",))


def test_every_benchmark_string_parses_and_round_trips(shared_data):
    path = shared_data / "nb201" / "nats_bench_tss.csv"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    space = spaces.get("nb201", channels=8, cells_per_stage=1)
    with path.open(newline="") as fh:
        strings = [row["ArchitectureString"] for row in csv.DictReader(fh)]
    assert len(strings) == 15625
    indices = set()
    for text in strings:
        ops = nb201.parse_cell(text)
        assert nb201.cell_string(ops) == text
        i = nb201.cell_index(ops)
        assert nb201.cell_from_index(i) == ops
        indices.add(i)
    assert indices == set(range(15625))
    # string -> Arch -> string through the space, for a spread of rows
    for text in strings[::97]:
        assert space.to_string(space.from_string(text)) == text
    # the file is in the benchmark's own order: row 9930 is the cell NATS's size space fixes
    assert strings[9930] == nb201.NATS_SIZE_CELL
