"""Search efficiency on NAS-Bench-201: how much of the true accuracy-latency front each
strategy finds after 50, 100, 200 and 500 evaluations (mean over seeds).

An evaluation looks up a cell: CIFAR-10 test accuracy (200 epochs) from the NATS-Bench
table (``--nb201-csv``) and latency from the table ``nb201_latency_table.py`` measured on a
GPU (``--latency-csv``); with ``--quick`` (or ``--synthetic-latency``) the latency is a
FLOPs-based stand-in computed from the cell's live operations, so the script runs anywhere.
Every registered strategy is made by name, as a recipe makes it, and driven through the
search algorithm Ray Tune would drive (``suggest`` / ``on_trial_complete``) without Tune's
per-trial overhead. An assignment suggested again is answered from a cache and not
counted (the same for every strategy).

Score: hypervolume of the found front divided by the true front's (pymoo's ``HV``), in the
objective space normalised to [0, 1] by the table's ranges (accuracy max -> 0, latency
min -> 0), reference point (1, 1) (``hv_ratio``); and a stricter view that only counts
the region above ``--focus-accuracy`` percent (``hv_ratio_focus``: reference point at that
accuracy and the slowest latency).

Multi-objective strategies optimise (accuracy max, latency min). ``stratified`` is GPUNet's
latency-binned search: its latency predictor here is the latency table itself (an exact
lookup table), 5 equal-count bins, accuracy optimised in each. ``llr`` needs ordered stage
depth/width parameters, which NB201's cell space does not have: it is reported as not
applicable (the error it raises before any trial).

GPU machine (CPU work only once the latency table exists; 16 cores)::

    python benchmarks/search_efficiency_nb201.py --nb201-csv DATA/nats_bench_tss.csv \\
        --latency-csv benchmarks/results/nb201/nb201_latency_h200.csv --workers 14 \\
        --out benchmarks/results/search/search_efficiency_nb201_h200.json

Here::

    python benchmarks/search_efficiency_nb201.py --nb201-csv /work/shared/data/nb201/nats_bench_tss.csv \\
        --quick --out /tmp/search_efficiency_quick.json
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import multiprocessing as mp
import os
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, Path(__file__).resolve().parent):  # the checkout; the sibling scripts
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from nb201_latency_fill import features as graph_features  # noqa: E402

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))

#: per-strategy options for this benchmark (population sizes fit a 500-evaluation budget)
OPTIONS = {
    "optuna-nsga2": {"population_size": 20},
    "optuna-nsga3": {"population_size": 20},
    "optuna-gp": {"n_startup_trials": 10},
    "pymoo-nsga2": {"pop_size": 20},
    "pymoo-smsemoa": {"pop_size": 20},
    "stratified": {"candidates": 4096, "bins": 5, "init_per_bin": 4},
    "utilization-filter": {"num_candidates": 500, "fronts": 3, "num_classes": 10},
}


#: strategies that predict latency before any trial: they get ``--predictor``'s (``auto``
#: too: given a predictor it resolves as the default strategy would, see docs/search.md)
PREDICTED = ("stratified", "pool-bo", "auto")
LUT_CELLS = 64  # measured cells the additive (LUT-like) latency model is fitted on


# -- the tables ---------------------------------------------------------------------------------
def parse(cell: str) -> tuple[str, ...]:
    ops = []
    for node in cell.strip().split("+"):
        ops += [e.split("~")[0] for e in node.strip("|").split("|")]
    return tuple(ops)


def synthetic_latency(ops: tuple[str, ...], batch: int = 256) -> float:
    """A FLOPs-and-memory stand-in for GPU latency (ms) of the NB201 network: per live
    edge, multiply-adds at 200 TFLOP/s plus activation traffic at 2 TB/s, plus a fixed
    part for the stem, reduction blocks and head. Only for testing the benchmark."""
    here = str(Path(__file__).resolve().parent)
    if here not in sys.path:  # once: a path per call slows every later import
        sys.path.insert(0, here)
    from nb201_latency_table import canonical

    live = canonical(ops)
    total_flops, total_bytes = 0.0, 0.0
    for c, hw in ((16, 32 * 32), (32, 16 * 16), (64, 8 * 8)):
        for op in live:
            act = batch * c * hw * 2.0  # fp16 bytes of one feature map
            if op == "nor_conv_3x3":
                total_flops += 5 * 2 * 9 * c * c * hw * batch
                total_bytes += 5 * 3 * act
            elif op == "nor_conv_1x1":
                total_flops += 5 * 2 * c * c * hw * batch
                total_bytes += 5 * 3 * act
            elif op == "avg_pool_3x3":
                total_bytes += 5 * 2 * act
            elif op == "skip_connect":
                total_bytes += 5 * 1 * act
    n_live = sum(op != "none" for op in live)
    return 0.05 + total_flops / 200e12 * 1e3 + total_bytes / 2e12 * 1e3 + 0.004 * 15 * n_live


def load_tables(nb201_csv: str, latency_csv: str | None) -> tuple[dict, dict, str, dict]:
    """Accuracy and latency per cell, where the latency came from, and what the latency
    table says beside it (``flops`` per cell and the ``batch`` it was timed at; empty for
    synthetic latency) for the utilization-filter's screening."""
    acc = {}
    with open(nb201_csv, newline="") as fh:
        for row in csv.DictReader(fh):
            acc[row["ArchitectureString"]] = float(row["CIFAR10TestAccuracy200Epochs"])
    if latency_csv:
        lat, predicted, table = {}, 0, {"flops": {}}
        with open(latency_csv, newline="") as fh:
            for row in csv.DictReader(fh):
                if row.get("latency_ms"):
                    lat[row["arch_string"]] = float(row["latency_ms"])
                    predicted += row.get("latency_source") == "predicted"
                    if row.get("flops"):
                        table["flops"][row["arch_string"]] = float(row["flops"])
                        table["batch"] = int(row["batch_size"])
        missing = len(set(acc) - set(lat))
        if missing:
            raise SystemExit(
                f"{latency_csv} has no latency for {missing} of {len(acc)} cells; finish it "
                "with nb201_latency_table.py --resume"
            )
        source = f"measured: {latency_csv}"
        if predicted:  # a table completed by nb201_latency_fill.py
            source = (
                f"{latency_csv}: {len(lat) - predicted} cells measured, {predicted} predicted "
                "by the additive per-edge model fitted on the measured graphs"
            )
    else:
        lat = {cell: synthetic_latency(parse(cell)) for cell in acc}
        source = "synthetic (FLOPs + memory traffic of the live edges)"
        table = {"flops": {}}
    return acc, lat, source, table


def graphs(latency_csv: str) -> dict[str, str]:
    """Cell -> its canonical computation graph, from the latency table."""
    with open(latency_csv, newline="") as fh:
        return {r["arch_string"]: r["graph"] for r in csv.DictReader(fh)}


def additive_model(lat: dict, graph: dict, n: int, seed: int = 0) -> np.ndarray:
    """Weights of a per-(edge, op) latency table fitted on ``n`` random measured cells (the
    analogue of a per-layer LUT for NB201's cells; ``features`` of a cell's graph)."""
    cells = sorted(lat)
    pick = np.random.default_rng(seed).choice(len(cells), size=n, replace=False)
    x = np.array([graph_features(graph[cells[i]]) for i in pick])
    y = np.array([lat[cells[i]] for i in pick])
    w, *_ = np.linalg.lstsq(x, y, rcond=None)
    return w


# -- scoring ---------------------------------------------------------------------------------
class Scorer:
    """Hypervolume ratios of found fronts, against the true front of the whole table."""

    def __init__(self, acc: dict, lat: dict, focus_accuracy: float) -> None:
        from pymoo.indicators.hv import HV

        cells = list(acc)
        a = np.array([acc[c] for c in cells])
        t = np.array([lat[c] for c in cells])
        self.a_min, self.a_max = float(a.min()), float(a.max())
        self.t_min, self.t_max = float(t.min()), float(t.max())
        self.focus = focus_accuracy
        self.hv = HV(ref_point=np.array([1.0, 1.0]))
        f_focus = self._norm_acc(focus_accuracy)
        self.hv_focus = HV(ref_point=np.array([f_focus, 1.0]))
        F = self.points(a, t)
        self.true = float(self.hv(F))
        self.true_focus = float(self.hv_focus(F))
        from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

        front = NonDominatedSorting().do(F, only_non_dominated_front=True)
        self.true_front = [(cells[i], float(a[i]), float(t[i])) for i in front]

    def _norm_acc(self, a):
        return (self.a_max - np.asarray(a, dtype=float)) / (self.a_max - self.a_min)

    def points(self, a, t) -> np.ndarray:
        t = (np.asarray(t, dtype=float) - self.t_min) / (self.t_max - self.t_min)
        return np.column_stack([self._norm_acc(a), t])

    def ratios(self, a, t) -> tuple[float, float]:
        F = self.points(a, t)
        return float(self.hv(F)) / self.true, float(self.hv_focus(F)) / self.true_focus


# -- one run --------------------------------------------------------------------------------------
_STATE: dict = {}


def _init(nb201_csv, latency_csv, focus, options=None, predictor="table") -> None:
    import optuna

    OPTIONS.update(options or {})  # --options, in each spawned worker

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    acc, lat, _, table = load_tables(nb201_csv, latency_csv)
    _STATE.update(acc=acc, lat=lat, scorer=Scorer(acc, lat, focus), table=table)
    _STATE["predicted"] = lat
    if predictor == "additive":  # a LUT's analogue, fitted once on LUT_CELLS measured cells
        graph = graphs(latency_csv)
        w = additive_model(lat, graph, LUT_CELLS)
        _STATE["predicted"] = {c: float(np.array(graph_features(graph[c])) @ w) for c in lat}


def _predictor(space):
    """``Arch -> ms`` for the strategies that predict latency before any trial: the measured
    table itself (``--predictor table``) or the additive per-edge model (``additive``)."""
    predicted = _STATE["predicted"]
    return lambda arch: predicted[space.to_string(arch)]


def _screen_from_table(alg, space, lat: dict, table: dict) -> None:
    """The utilization-filter strategy screens candidates by measuring them with the recipe's
    latency backend; here its latency is the GPU table's (at the table's batch) and its FLOPs
    the table's (counted by ``torch.utils.flop_counter`` when the table was made), so that
    every strategy sees the same numbers."""
    from accelsearch.objectives.filtering import CheapMetrics

    flops, batch = table["flops"], table["batch"]

    def cheap_metrics(backend, config):
        cell = space.to_string(space.decode(config))
        ms = lat[cell]
        return CheapMetrics(
            throughput=batch * 1000.0 / ms, flops=flops[cell], latency_ms=ms, batch_size=batch
        )

    alg.cheap_metrics = cheap_metrics
    alg.latency = {**alg.latency, "backend": "torch", "device": "cpu"}  # opened, never used


def make_search(name: str, seed: int, options: dict):
    """``(search algorithm, space)``: strategy ``name`` made by name on NB201, as a recipe
    makes it, with the table's latency as its predictor where it predicts before any trial;
    raises what ``strategy.make`` raises."""
    from accelsearch import spaces
    from accelsearch.search import strategy

    space = spaces.get("nb201")
    options = dict(options)
    if strategy.STRATEGIES.get(name).supports_multi:
        objective = strategy.Objective.of("accuracy", "latency_ms")
    else:
        objective = strategy.Objective.of("accuracy")
    if name in PREDICTED:
        options["predictor"] = _predictor(space)
    alg, _ = strategy.make(name, space, objective, seed, options)
    return alg, space


def trained_cells(alg, space, target: int) -> tuple[list[str], int]:
    """Drive ``alg`` (``suggest`` / ``on_trial_complete``) until it has trained ``target``
    distinct cells or stops; a cell suggested again is answered from a cache and not counted.
    Returns the cells in training order and the number of repeats."""
    from accelsearch.spaces.nb201 import cell_string

    acc, lat = _STATE["acc"], _STATE["lat"]
    names = [space.param_name(i, j) for i, j in EDGES]
    median = np.median(list(lat.values()))
    seen: dict[str, dict] = {}
    order: list[str] = []
    repeats, tid = 0, 0
    while len(order) < target and repeats < 20 * target:
        cfg = alg.suggest(f"t{tid}")
        if cfg is None or cfg == "FINISHED":
            break
        cell = cell_string(tuple(cfg[n] for n in names))
        if cell in seen:
            repeats += 1
        else:
            seen[cell] = {
                "accuracy": acc[cell],
                "latency_ms": lat[cell],
                "reward": acc[cell] * (lat[cell] / median) ** -0.09,
            }
            order.append(cell)
        alg.on_trial_complete(f"t{tid}", seen[cell])
        tid += 1
    return order, repeats


def run_one(job: tuple[str, int, list[int]]) -> dict:
    """One strategy, one seed: unique evaluations up to max(checkpoints)."""
    name, seed, checkpoints = job
    acc, lat, scorer = _STATE["acc"], _STATE["lat"], _STATE["scorer"]
    t0 = time.perf_counter()
    try:
        alg, space = make_search(name, seed, OPTIONS.get(name, {}))
    except Exception as exc:  # noqa: BLE001 - reported as "not applicable", with the reason
        return {"strategy": name, "seed": seed, "error": f"{type(exc).__name__}: {exc}"}
    if name == "utilization-filter":
        if not _STATE["table"]["flops"]:
            return {"strategy": name, "seed": seed, "error": "needs a latency table with flops"}
        _screen_from_table(alg, space, lat, _STATE["table"])
    order, repeats = trained_cells(alg, space, max(checkpoints))
    out = {"strategy": name, "seed": seed, "evaluations": len(order), "repeats": repeats}
    # where the strategy stopped by itself (utilization-filter evaluates only what it kept)
    out["hv_final"], out["hv_focus_final"] = scorer.ratios(
        [acc[c] for c in order], [lat[c] for c in order]
    )
    for n in checkpoints:
        prefix = order[:n]
        r, rf = scorer.ratios([acc[c] for c in prefix], [lat[c] for c in prefix])
        out[f"hv_{n}"], out[f"hv_focus_{n}"] = r, rf
        out[f"complete_{n}"] = len(prefix) >= n
    out["wall_s"] = time.perf_counter() - t0
    return out


# -- the whole benchmark --------------------------------------------------------------------
def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nb201-csv", required=True)
    p.add_argument("--latency-csv", help="table from nb201_latency_table.py (omit with --quick)")
    p.add_argument("--synthetic-latency", action="store_true")
    p.add_argument("--out", required=True, help="JSON results (written as runs finish)")
    p.add_argument("--strategies", help="comma-separated (default: every registered one)")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="first seed (seeds run offset .. offset + seeds - 1): 100 for fresh seeds, "
        "unseen while a strategy's options were chosen",
    )
    p.add_argument("--evals", default="50,100,200,500", help="checkpoints (evaluations)")
    p.add_argument(
        "--gp-max-evals",
        type=int,
        default=100,
        help="optuna-gp's budget: its asks grow ~quadratically (about 10 s each at 100 "
        "trials on a loaded 2-core CPU), so it stops here",
    )
    p.add_argument("--gp-seeds", type=int, default=3)
    p.add_argument("--focus-accuracy", type=float, default=85.0)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--quick", action="store_true", help="synthetic latency, 2 seeds, 100 evals")
    p.add_argument("--device", default="cpu", help="recorded only (the search runs on CPU)")
    p.add_argument(
        "--predictor",
        choices=("table", "additive"),
        default="table",
        help="latency predictor of the strategies that predict before any trial (stratified, "
        "pool-bo): the measured table, or an additive per-(edge, op) model fitted on "
        f"{LUT_CELLS} random measured cells (a lookup table's analogue)",
    )
    p.add_argument(
        "--options",
        help='JSON: per-strategy options replacing OPTIONS, e.g. \'{"optuna-tpe": {"group": true}}\'',
    )
    args = p.parse_args(argv)
    if args.options:
        OPTIONS.update(json.loads(args.options))
    if args.quick:
        args.synthetic_latency = True
        args.seeds = min(args.seeds, 2)
        args.evals = "50,100"
        args.gp_max_evals = min(args.gp_max_evals, 50)
        args.gp_seeds = 1
    if not args.latency_csv and not args.synthetic_latency:
        p.error("give --latency-csv (measured on a GPU) or --synthetic-latency / --quick")
    checkpoints = sorted(int(x) for x in args.evals.split(","))

    from accelsearch import search

    names = args.strategies.split(",") if args.strategies else search.strategies()
    acc, lat, source, _ = load_tables(
        args.nb201_csv, None if args.synthetic_latency else args.latency_csv
    )
    scorer = Scorer(acc, lat, args.focus_accuracy)
    jobs = []
    for name in names:
        if name == "optuna-gp":
            cps = [c for c in checkpoints if c <= args.gp_max_evals] or [args.gp_max_evals]
            jobs += [(name, s, cps) for s in _seeds(args.seed_offset, args.gp_seeds)]
        else:
            jobs += [(name, s, checkpoints) for s in _seeds(args.seed_offset, args.seeds)]
    import torch

    summary = {
        "benchmark": "search_efficiency_nb201",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": platform.processor() or platform.machine(),
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "device": args.device,
        "latency": source,
        "accuracy": "NATS-Bench topology, CIFAR-10 test accuracy after 200 epochs",
        "normalisation": {
            "accuracy": [scorer.a_min, scorer.a_max],
            "latency_ms": [scorer.t_min, scorer.t_max],
            "reference_point": [1.0, 1.0],
            "focus_accuracy": args.focus_accuracy,
        },
        "true_front": [
            {"cell": c, "accuracy": a, "latency_ms": t}
            for c, a, t in sorted(scorer.true_front, key=lambda x: x[2])
        ],
        "checkpoints": checkpoints,
        "seeds": args.seeds,
        "seed_offset": args.seed_offset,
        "options": {k: v for k, v in OPTIONS.items() if k in names},
        "predictor": args.predictor,
        "command": " ".join(sys.argv),
        "runs": [],
    }

    def write() -> None:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2, default=str))

    t0 = time.perf_counter()
    write()
    ctx = mp.get_context("spawn")
    init_args = (
        args.nb201_csv,
        None if args.synthetic_latency else args.latency_csv,
        args.focus_accuracy,
        json.loads(args.options) if args.options else None,
        args.predictor,
    )
    with ctx.Pool(args.workers, initializer=_init, initargs=init_args) as pool:
        for res in pool.imap_unordered(_safe_run, jobs):
            summary["runs"].append(res)
            summary["table"] = table(summary["runs"], checkpoints)
            summary["wall_s"] = time.perf_counter() - t0
            write()
            tag = (
                res.get("error")
                or f"hv@{checkpoints[-1]}={res.get(f'hv_{checkpoints[-1]}', float('nan')):.3f}"
            )
            print(f"[efficiency] {res['strategy']} seed {res['seed']}: {tag}", flush=True)
    print_table(summary["table"], checkpoints)
    return 0


def _seeds(offset: int, n: int) -> range:
    return range(offset, offset + n)


def _safe_run(job):
    try:
        return run_one(job)
    except Exception:  # noqa: BLE001 - one broken run must not lose the others
        return {"strategy": job[0], "seed": job[1], "error": traceback.format_exc()[-2000:]}


def table(runs: list[dict], checkpoints: list[int]) -> dict:
    out: dict[str, dict] = {}
    for name in sorted({r["strategy"] for r in runs}):
        rs = [r for r in runs if r["strategy"] == name]
        errs = [r["error"] for r in rs if "error" in r]
        ok = [r for r in rs if "error" not in r]
        row: dict = {"seeds": len(ok)}
        if errs and not ok:
            row["not_applicable"] = errs[0].strip().splitlines()[-1][:300]
        for n in checkpoints:
            vals = [r[f"hv_{n}"] for r in ok if f"hv_{n}" in r and r.get(f"complete_{n}")]
            foc = [
                r[f"hv_focus_{n}"] for r in ok if f"hv_focus_{n}" in r and r.get(f"complete_{n}")
            ]
            if vals:
                row[str(n)] = {
                    "mean": float(np.mean(vals)),
                    "std": float(np.std(vals)),
                    "focus_mean": float(np.mean(foc)),
                    "n": len(vals),
                }
        row["wall_s_per_run"] = float(np.mean([r["wall_s"] for r in ok])) if ok else None
        out[name] = row
    return out


def print_table(tab: dict, checkpoints: list[int]) -> None:
    head = f"{'strategy':16s}" + "".join(f"{'@' + str(n):>16s}" for n in checkpoints)
    print("\nHV ratio (mean over seeds; focus region in brackets)\n" + head)
    for name, row in tab.items():
        if "not_applicable" in row:
            print(f"{name:16s}  not applicable: {row['not_applicable'][:90]}")
            continue
        cells = []
        for n in checkpoints:
            c = row.get(str(n))
            cells.append(f"{c['mean']:.3f} [{c['focus_mean']:.3f}]" if c else "-")
        print(f"{name:16s}" + "".join(f"{c:>16s}" for c in cells))


if __name__ == "__main__":
    sys.exit(main())
