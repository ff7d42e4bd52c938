"""The NB201 latency table script: canonical graphs, one process per GPU, resume."""

from __future__ import annotations

import csv
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CELLS = [
    "|nor_conv_3x3~0|+|nor_conv_1x1~0|nor_conv_3x3~1|+|avg_pool_3x3~0|nor_conv_1x1~1|avg_pool_3x3~2|",
    "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|nor_conv_3x3~0|skip_connect~1|avg_pool_3x3~2|",
    "|avg_pool_3x3~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",
    "|none~0|+|nor_conv_3x3~0|none~1|+|skip_connect~0|none~1|nor_conv_1x1~2|",  # same graph
    "|skip_connect~0|+|none~0|none~1|+|nor_conv_3x3~0|none~1|none~2|",
]


@pytest.fixture(scope="module")
def script():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(
        "nb201_latency_table", ROOT / "benchmarks" / "nb201_latency_table.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cells_csv(tmp_path: Path) -> Path:
    path = tmp_path / "cells.csv"
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ArchitectureString"])
        w.writerows([c] for c in CELLS)
    return path


def test_dead_edges_share_a_graph(script):
    a, b = (script.canonical(script.parse(c)) for c in CELLS[2:4])
    assert a == b  # the avg-pool edge 1<-0 feeds node 1, whose edges out are all none
    assert a[0] == "none"


def test_shards_measure_every_graph_once_and_merge(script, tmp_path):
    """--gpus N's path (here on the CPU, 2 shards): each graph in exactly one shard, the
    rows appended to the table's graphs file, the per-cell table complete."""
    out_csv = tmp_path / "t.csv"
    argv = ["--nb201-csv", str(_cells_csv(tmp_path)), "--device", "cpu", "--quick",
            "--out", str(tmp_path / "t.json"), "--csv", str(out_csv)]  # fmt: skip
    args = script.parse_args(argv)
    args.gpus = 2
    graphs_csv = out_csv.with_suffix(".graphs.csv")
    script.append_rows(graphs_csv, [], fresh=True)
    measured, stopped, shards = script.run_shards(args, argv, graphs_csv)
    assert (measured, stopped) == (4, False)  # 5 cells, 4 graphs
    assert [s["exit_code"] for s in shards] == [0, 0]
    assert sorted(s["measured"] for s in shards) == [2, 2]
    rows = script.read_graph_rows(graphs_csv)
    assert len(rows) == 4 and {r["gpu"] for r in rows.values()} == {""}
    assert not list(tmp_path.glob("*shard*"))  # shard files merged and removed

    # a resumed run finds nothing left to measure and writes the per-cell table
    assert script.main([*argv, "--resume"]) == 0
    with open(out_csv, newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 5 and all(float(r["latency_ms"]) > 0 for r in table)
    assert table[2]["latency_ms"] == table[3]["latency_ms"]


def test_an_old_graphs_file_gains_the_new_column(script, tmp_path):
    path = tmp_path / "old.graphs.csv"
    old = [f for f in script.GRAPH_FIELDS if f != "gpu"]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=old)
        w.writeheader()
        w.writerow({f: "1" for f in old} | {"graph": "g0"})
    script.append_rows(path, [{f: "2" for f in script.GRAPH_FIELDS} | {"graph": "g1"}])
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == script.GRAPH_FIELDS
    assert [(r["graph"], r["gpu"], r["latency_ms"]) for r in rows] == [
        ("g0", "", "1"),
        ("g1", "2", "2"),
    ]


def test_gpus_need_cuda(script, tmp_path):
    with pytest.raises(SystemExit):
        script.parse_args(["--nb201-csv", "x", "--out", "y", "--device", "cpu", "--gpus", "2"])
