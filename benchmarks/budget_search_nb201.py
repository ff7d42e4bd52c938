"""Latency budgets as constraints on NAS-Bench-201: how fast each strategy finds the most
accurate cell under a latency budget, and how many trainings it spends on cells over it.

Budgets: the 10th, 25th and 50th percentiles of the measured H200 latency table
(``--latency-csv``, all 15,625 cells). Accuracy: NATS-Bench's CIFAR-10 test accuracy after
200 epochs (``--nb201-csv``). An evaluation (a *training*) looks a cell up in both tables;
a cell suggested again is answered from a cache and not counted (as in
``search_efficiency_nb201.py``). Every strategy is made by name through
``accelsearch.search.strategy.make`` and driven through the search algorithm Ray Tune
would drive (``suggest`` / ``on_trial_complete``), in-process.

Arms, per strategy and budget:

* ``plain``: no budget; single-objective strategies maximise the MnasNet reward
  ``acc × (lat / budget)^-0.09``, multi-objective-only ones the (accuracy, latency) front;
  every suggested cell is trained;
* ``constrained``: the budget goes to the strategy (``budget=``: Optuna's constraints,
  pymoo's violation, stratified's restricted pool), objective accuracy (multi-only
  strategies: accuracy and latency); every suggested cell is trained, and the strategy
  learns afterwards that it was over the budget. Strategies that cannot take constraints
  are refused here (the error is recorded);
* ``screened``: as ``constrained`` plus the screen of a real search
  (:class:`accelsearch.search.tune_adapter.ScreenedSearch`): a candidate predicted over the
  budget by more than the predictor's measured error is rejected before the GPU; a candidate
  that passes is measured (its latency looked up) and, when over the budget, told as
  infeasible without training. NB201 has no per-layer lookup table in the project, so the
  predictor is the fallback a search uses then: the table's FLOPs (counted by
  ``torch.utils.flop_counter``), calibrated on the cells measured so far;
* ``screened-lut``: the same with a lookup table's analogue as the predictor: an additive
  per-edge model (one latency per (edge, operation), summed, like a per-layer LUT) fitted
  once on 64 random measured cells; its margin starts at 10 % and becomes its measured error.

``stratified`` needs a latency predictor in ms for its pool: it gets that additive model in
every arm, and a pool of 16,384 Sobol candidates with its ridge surrogate
(``BUDGET_OPTIONS``). ``optuna-gp`` runs 3 seeds and 50 trainings (its asks take seconds).
``llr`` does not apply to NB201 (no ordered depth/width parameters).

Reported per (strategy, arm, budget), over seeds: trainings until the best feasible cell of
the table was trained (and until a cell within 0.3 points of it), regret (best feasible
accuracy − best feasible accuracy trained) after 25, 50 and 100 trainings, trainings on
cells over the budget, cells measured and screened, and GPU-seconds with a cost model
(``--measure-s`` per latency measurement, ``--train-s`` per proxy training).

    python benchmarks/budget_search_nb201.py --nb201-csv /work/shared/data/nb201/nats_bench_tss.csv \\
        --latency-csv benchmarks/results/nb201/nb201_latency_h200.csv \\
        --out benchmarks/results/search/budget_search_nb201.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing as mp
import platform
import sys
import time
import traceback
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import ROOT  # noqa: E402,F401  (puts the checkout on sys.path)
from budget_search_report import (  # noqa: E402
    CHECKPOINTS,
    PERCENTILES,
    TARGET_REGRET,
    markdown,
    summarise,
    target_check,
    write_tables,
)
from nb201_latency_fill import features  # noqa: E402
from search_efficiency_nb201 import EDGES, OPTIONS, PREDICTED, load_tables  # noqa: E402

from accelsearch import spaces  # noqa: E402
from accelsearch.search import strategy  # noqa: E402
from accelsearch.search.budget import Budget  # noqa: E402
from accelsearch.search.screen import Screen  # noqa: E402
from accelsearch.search.screen_models import FlopsLatency, TableLatency  # noqa: E402
from accelsearch.search.tune_adapter import ScreenedSearch  # noqa: E402
from accelsearch.spaces.nb201 import cell_string  # noqa: E402

STRATEGIES = (
    "optuna-tpe",
    "optuna-nsga2",
    "optuna-nsga3",
    "pymoo-nsga2",
    "pymoo-smsemoa",
    "stratified",
    "random",
    "sobol",
    "llr",
    "optuna-gp",  # last: its runs take minutes
)
ARMS = ("plain", "constrained", "screened", "screened-lut")
LUT_CELLS = 64  # measured cells the additive (LUT-like) model of stratified is fitted on
#: options beyond search_efficiency_nb201's: stratified's pool covers most of the 15,625
#: cells, and a ridge surrogate picks inside its bin
BUDGET_OPTIONS = {
    "stratified": {"candidates": 16384, "bins": 5, "init_per_bin": 4, "surrogate": "ridge"},
}

_STATE: dict = {}


def _init(nb201_csv: str, latency_csv: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    acc, lat, _, table = load_tables(nb201_csv, latency_csv)
    _STATE.update(acc=acc, lat=lat, flops=table["flops"], graph=_graphs(latency_csv))


def _graphs(latency_csv: str) -> dict[str, str]:
    import csv

    with open(latency_csv, newline="") as fh:
        return {r["arch_string"]: r["graph"] for r in csv.DictReader(fh)}


def additive_model(lat: dict, graph: dict, n: int, seed: int = 0):
    """Weights of a per-(edge, op) latency table fitted on ``n`` random measured cells (the
    analogue of a per-layer LUT for NB201's cells; ``features`` of a cell's graph)."""
    cells = sorted(lat)
    pick = np.random.default_rng(seed).choice(len(cells), size=n, replace=False)
    x = np.array([features(graph[cells[i]]) for i in pick])
    y = np.array([lat[cells[i]] for i in pick])
    w, *_ = np.linalg.lstsq(x, y, rcond=None)
    return w


class Run:
    """One strategy, arm, budget and seed: the trainings in order and the counts."""

    def __init__(self, budget: float) -> None:
        self.budget = budget
        self.trained: list[str] = []  # cells in training order
        self.measured_over = 0  # measured, over the budget, not trained
        self.cache: dict[str, dict] = {}
        self.repeats = 0
        self.finished = False  # the strategy stopped by itself before the trainings ran out


def _objective(name: str, arm: str):
    strat = strategy.STRATEGIES.get(name)
    if not strat.supports_single:
        return strategy.Objective.of("accuracy", "latency_ms")
    return strategy.Objective.of("reward" if arm == "plain" else "accuracy")


def _make(name: str, arm: str, seed: int, budget_ms: float, space):
    flops = _STATE["flops"]
    options = dict(BUDGET_OPTIONS.get(name, OPTIONS.get(name, {})))
    if name in PREDICTED:
        options["predictor"] = _lut_predictor()
    budget = None if arm == "plain" else Budget(latency_ms=budget_ms)
    alg, _ = strategy.make(
        name,
        space,
        _objective(name, arm),
        seed,
        options,
        budget=budget,
        screen=arm.startswith("screened"),
    )
    if not arm.startswith("screened"):
        return alg, None

    def cost_of(params):  # exact FLOPs of the cell, from the table
        return 0.0, flops[space.to_string(space.decode(params))] / 1e9

    if arm == "screened-lut":
        model = TableLatency(_lut_predictor, space, "additive per-edge table", prior_margin=0.1)
    else:
        model = FlopsLatency(min_points=4)
    screen = Screen(budget, space, model, cost_of=cost_of)
    return ScreenedSearch(alg, screen, max_per_trial=200), screen


def _lut_predictor():
    """``Arch -> ms`` from the additive per-edge table (fitted once per process)."""
    w = _STATE.setdefault("lut", additive_model(_STATE["lat"], _STATE["graph"], LUT_CELLS))
    graph, space = _STATE["graph"], spaces.get("nb201")
    return lambda arch: float(np.array(features(graph[space.to_string(arch)])) @ w)


def run_one(job: tuple[str, str, int, int, float, int]) -> dict:
    name, arm, pct, seed, budget_ms, max_trainings = job
    acc, lat = _STATE["acc"], _STATE["lat"]
    space = spaces.get("nb201")
    names = [space.param_name(i, j) for i, j in EDGES]
    out = {"strategy": name, "arm": arm, "percentile": pct, "seed": seed, "budget_ms": budget_ms}
    t0 = time.perf_counter()
    try:
        alg, screen = _make(name, arm, seed, budget_ms, space)
    except Exception as exc:  # noqa: BLE001 - recorded as not applicable, with the reason
        return {**out, "error": f"{type(exc).__name__}: {exc}"}
    run = Run(budget_ms)
    tid = 0
    while len(run.trained) < max_trainings and run.repeats < 20 * max_trainings:
        cfg = alg.suggest(f"t{tid}")
        if cfg is None or cfg == "FINISHED":
            run.finished = True
            break
        cell = cell_string(tuple(cfg[n] for n in names))
        if cell in run.cache:
            run.repeats += 1
        else:
            run.cache[cell] = _evaluate(cell, acc, lat, budget_ms, arm, run)
        alg.on_trial_complete(f"t{tid}", dict(run.cache[cell]))
        tid += 1
    out.update(_score(run, acc, lat, budget_ms))
    out["screened"] = screen.rejected if screen is not None else 0
    if screen is not None:
        out["screen_margin"] = screen.margin()
    out["wall_s"] = time.perf_counter() - t0
    return out


def _evaluate(cell: str, acc: dict, lat: dict, budget_ms: float, arm: str, run: Run) -> dict:
    """What the trial reports: measured first under the screen (stopped there when over)."""
    ms = lat[cell]
    feasible = int(ms <= budget_ms)
    if arm.startswith("screened") and not feasible:
        run.measured_over += 1
        return {"latency_ms": ms, "gflops": _STATE["flops"][cell] / 1e9, "feasible": 0}
    run.trained.append(cell)
    return {
        "accuracy": acc[cell],
        "latency_ms": ms,
        "gflops": _STATE["flops"][cell] / 1e9,
        "reward": acc[cell] * (ms / budget_ms) ** -0.09,
        "feasible": feasible,
    }


def _score(run: Run, acc: dict, lat: dict, budget_ms: float) -> dict:
    best = _STATE["best"][budget_ms]
    found, first_best, first_close = [], None, None
    top = -np.inf
    for i, cell in enumerate(run.trained, 1):
        if lat[cell] <= budget_ms:
            top = max(top, acc[cell])
        found.append(top)
        if first_best is None and top >= best - 1e-9:
            first_best = i
        if first_close is None and best - top <= TARGET_REGRET:
            first_close = i
    out = {
        "trainings": len(run.trained),
        "trained_infeasible": sum(lat[c] > budget_ms for c in run.trained),
        "measured_infeasible": run.measured_over,
        "evals_to_best": first_best,
        "evals_to_within_0.3": first_close,
        "repeats": run.repeats,
    }
    for k in CHECKPOINTS:  # a strategy that stopped by itself keeps what it had found
        if found and (len(found) >= k or run.finished):
            top_k = found[min(k, len(found)) - 1]
            out[f"regret_{k}"] = None if not np.isfinite(top_k) else best - top_k
    out["finished_early"] = run.finished
    return out


def _safe_run(job):
    try:
        return run_one(job)
    except Exception:  # noqa: BLE001 - one broken run must not lose the others
        return {"strategy": job[0], "arm": job[1], "percentile": job[2], "seed": job[3],
                "error": traceback.format_exc()[-2000:]}  # fmt: skip


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--nb201-csv", required=True)
    p.add_argument("--latency-csv", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--arms", default=",".join(ARMS))
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument(
        "--seed-offset",
        type=int,
        default=0,
        help="first seed (seeds run offset .. offset + seeds - 1): 100 for fresh seeds",
    )
    p.add_argument("--gp-seeds", type=int, default=3, help="optuna-gp's asks take seconds")
    p.add_argument("--gp-trainings", type=int, default=50, help="optuna-gp's trainings")
    p.add_argument("--trainings", type=int, default=100)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--measure-s", type=float, default=0.34, help="GPU-s per measurement")
    p.add_argument("--train-s", type=float, default=21.8, help="GPU-s per proxy training")
    p.add_argument(
        "--resume", action="store_true", help="keep the runs already in --out, run the others"
    )
    p.add_argument(
        "--percentiles",
        default=",".join(str(q) for q in PERCENTILES),
        help="budgets to run (latency percentiles), e.g. 25 to rerun only the hard one",
    )
    p.add_argument(
        "--options",
        help="JSON: per-strategy options replacing BUDGET_OPTIONS/OPTIONS, e.g. "
        '\'{"pool-bo": {"local_every": 2}}\'',
    )
    args = p.parse_args(argv)
    if args.options:
        BUDGET_OPTIONS.update(json.loads(args.options))

    acc, lat, source, _ = load_tables(args.nb201_csv, args.latency_csv)
    t = np.array([lat[c] for c in acc])
    pcts = [int(q) for q in args.percentiles.split(",")]
    budgets = {pct: float(np.percentile(t, pct)) for pct in pcts}
    best = {b: max(a for c, a in acc.items() if lat[c] <= b) for b in budgets.values()}
    jobs, off = [], args.seed_offset
    for name in args.strategies.split(","):
        gp = name == "optuna-gp"
        seeds = args.gp_seeds if gp else args.seeds
        n = args.gp_trainings if gp else args.trainings
        for arm in args.arms.split(","):
            for pct, b in budgets.items():
                jobs += [(name, arm, pct, s, b, n) for s in range(off, off + seeds)]
    import torch

    summary = {
        "benchmark": "budget_search_nb201",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {mp.cpu_count()} CPUs, {args.workers} worker(s)",
        "versions": {"python": platform.python_version(), "torch": torch.__version__},
        "latency": source,
        "accuracy": "NATS-Bench topology, CIFAR-10 test accuracy after 200 epochs",
        "budgets": {
            str(pct): {
                "latency_ms": b,
                "feasible_cells": int((t <= b).sum()),
                "best_feasible_accuracy": best[b],
            }
            for pct, b in budgets.items()
        },
        "seeds": {"first": args.seed_offset, "count": args.seeds},
        "cost_model": {"measure_s": args.measure_s, "train_s": args.train_s},
        "options": {
            n: BUDGET_OPTIONS.get(n, OPTIONS.get(n, {})) for n in args.strategies.split(",")
        },
        "command": " ".join(sys.argv),
        "runs": [],
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    before = 0.0
    if args.resume and out.exists():  # a run stopped by a time limit: its runs are kept
        old = json.loads(out.read_text())
        done = {_key(r) for r in old["runs"]}
        summary["runs"] = old["runs"]
        summary["sessions"] = old.get("sessions", []) + [
            {"date": old["date"], "wall_s": old.get("wall_s", 0.0), "runs": len(old["runs"])}
        ]
        before = old.get("wall_s", 0.0)  # already the total of the earlier sessions
        jobs = [j for j in jobs if _key(j) not in done]
    t0 = time.perf_counter()
    ctx = mp.get_context("spawn")
    with ctx.Pool(
        args.workers,
        initializer=_init_all,
        initargs=(args.nb201_csv, args.latency_csv, best, json.loads(args.options or "{}")),
    ) as pool:
        for res in pool.imap_unordered(_safe_run, jobs):
            summary["runs"].append(res)
            summary["wall_s"] = before + time.perf_counter() - t0
            tag = res.get("error", "").strip().splitlines()[-1:] or [
                f"regret@50={res.get('regret_50')}, trained over budget "
                f"{res.get('trained_infeasible')}, screened {res.get('screened')}"
            ]
            print(f"[budget] {res['strategy']} {res['arm']} p{res['percentile']} "
                  f"seed {res['seed']}: {tag[0][:160]}", flush=True)  # fmt: skip
            # after every run: one stopped by a time limit loses none (--resume)
            out.write_text(json.dumps(summary, indent=1, default=str))
    summary["table"] = summarise(summary["runs"], args.measure_s, args.train_s)
    summary["target"] = target_check(summary["table"])
    out.write_text(json.dumps(summary, indent=1, default=str))
    write_tables(out.with_suffix(".md"), markdown(summary))
    print(f"[budget] {len(jobs)} runs in {time.perf_counter() - t0:.0f} s -> {out}")
    return 0


def _key(job) -> tuple:
    """(strategy, arm, percentile, seed) of a job tuple or a run record."""
    if isinstance(job, dict):
        return (job["strategy"], job["arm"], job["percentile"], job["seed"])
    return tuple(job[:4])


def _init_all(nb201_csv: str, latency_csv: str, best: dict, options: dict) -> None:
    BUDGET_OPTIONS.update(options)  # --options, in each spawned worker
    _init(nb201_csv, latency_csv)
    _STATE["best"] = best


if __name__ == "__main__":
    sys.exit(main())
