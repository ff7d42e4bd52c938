"""Orchestration overhead: wall time per trial for trivial trials, framework vs plain loop.

Ray Tune issue #11004 reported 22.7 s for 100 trivial trials through Tune against 0.1 s in
a plain Optuna loop. Here the same Optuna sampler (``optuna-tpe``: TPE, 4 start-up
trials, multivariate) proposes ``--trials`` configurations of a trivial space in:

* ``plain_optuna``: ``study.ask()`` / ``study.tell()`` in a Python loop, trivial objective;
* ``tune_optuna_default``: Ray Tune + ``OptunaSearch``, a trivial function trainable, Tune's
  defaults (a new trial actor per trial);
* ``tune_optuna_reuse``: the same with ``reuse_actors=True`` (what accelsearch uses);
* ``accelsearch``: ``accelsearch.recipe_search.Search`` - the real trial function (build a tiny
  model, count its FLOPs, "measure" with a constant latency backend, a trivial evaluator),
  experiment snapshots after every result (resume), MLflow logging to SQLite;
* ``accelsearch_no_mlflow``: the same without tracking;
* ``accelsearch_not_resumable`` (``_no_mlflow``): with ``search.resumable: false`` (no result
  checkpoint per trial, so no experiment snapshot per trial).

One trial at a time everywhere (the plain loop is sequential). Ray is started once, before
the clock starts. Per variant: total seconds, milliseconds per trial, and for accelsearch
the time spent inside the trial function (so the rest is orchestration). ``steady`` is the
time per trial between the first and the last completed trial: it leaves out the start of
the first trial worker (importing torch there takes seconds), a cost paid once per search.

Run here (CPU)::

    python benchmarks/orchestration_overhead.py --trials 200 --out benchmarks/results/search/orchestration_overhead_cpu.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accelsearch.arch import Arch, Head, Stage  # noqa: E402
from accelsearch.objectives import accuracy, latency  # noqa: E402
from accelsearch.objectives.accuracy.base import AccuracyEvaluator  # noqa: E402
from accelsearch.objectives.latency.base import LatencyBackend  # noqa: E402
from accelsearch.objectives.latency.protocol import Stats  # noqa: E402
from accelsearch.spaces import (  # noqa: E402
    SPACES,
    Categorical,
    IntRange,
    Ordinal,
    SearchSpace,
    register_space,  # noqa: E402
)


class TrivialSpace(SearchSpace):
    """Four parameters (48 000 assignments), one 1×1 conv on a 4-px input."""

    def params(self):
        return {
            "a": Ordinal(tuple(range(4, 44, 4))),
            "b": IntRange(0, 39),
            "c": Categorical(("x", "y", "z")),
            "d": IntRange(1, 40),
        }

    def decode(self, params: dict[str, Any]) -> Arch:
        return Arch(
            resolution=4,
            stages=(Stage("conv", width=int(params["a"]), kernel=1),),
            head=Head(width=0),
        )

    def encode(self, arch: Arch) -> dict[str, Any]:
        raise NotImplementedError


def trivial_score(params: dict[str, Any]) -> float:
    return float(params["a"] + params["b"] - abs(params["d"] - 20) + (params["c"] == "y"))


class TrivialEvaluator(AccuracyEvaluator):
    name = "trivial"

    def evaluate(self, arch, report=None) -> float:
        acc = float(arch.stages[0].width)
        if report is not None:
            report(1, acc)
        return acc


class ConstantBackend(LatencyBackend):
    name = "constant"
    precisions = {"cpu": ("fp32",), "cuda": ("fp32",)}

    def _measure_impl(self, model_or_arch, batch_size, resolution, num_classes):
        s = Stats(median_ms=1.0, p10_ms=1.0, p90_ms=1.0, mean_ms=1.0, cv=0.0, n=1, ci_rel=0.0)
        return s, 0.0, "constant", {}


if "overhead_trivial" not in SPACES:
    register_space("overhead_trivial")(TrivialSpace)
if "trivial" not in accuracy.EVALUATORS:
    accuracy.EVALUATORS.add("trivial", TrivialEvaluator)
if "constant" not in latency.BACKENDS:
    latency.BACKENDS.add("constant", ConstantBackend)


def plain_optuna(n: int, seed: int) -> dict:
    import optuna

    from accelsearch.search.optuna_strategies import make_sampler

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = TrivialSpace()
    dists = space.optuna_space()
    study = optuna.create_study(direction="maximize", sampler=make_sampler("optuna-tpe", seed, {}))
    t0 = time.perf_counter()
    for _ in range(n):
        trial = study.ask(dists)
        study.tell(trial, trivial_score(trial.params))
    return {"total_s": time.perf_counter() - t0}


def _tune_trainable(config):
    from ray import tune

    tune.report({"score": trivial_score(config)})


def _steady_ms(times: list[float]) -> float | None:
    """Milliseconds per trial between the first and the last completion (start-up excluded)."""
    return 1000 * (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None


def tune_optuna(n: int, seed: int, reuse: bool, storage: str) -> dict:
    from ray import tune
    from ray.tune.search.optuna import OptunaSearch

    done: list[float] = []

    class Clock(tune.Callback):
        def on_trial_complete(self, iteration, trials, trial, **info):
            done.append(time.perf_counter())

    from accelsearch.search.optuna_strategies import make_sampler

    space = TrivialSpace()
    alg = OptunaSearch(
        space=space.optuna_space(),
        metric="score",
        mode="max",
        sampler=make_sampler("optuna-tpe", seed, {}),
    )
    tuner = tune.Tuner(
        _tune_trainable,
        tune_config=tune.TuneConfig(
            search_alg=alg, num_samples=n, max_concurrent_trials=1, reuse_actors=reuse
        ),
        run_config=tune.RunConfig(
            storage_path=storage, name=f"tune-{reuse}", verbose=0, callbacks=[Clock()]
        ),
    )
    t0 = time.perf_counter()
    tuner.fit()
    return {"total_s": time.perf_counter() - t0, "steady_ms_per_trial": _steady_ms(done)}


def accelsearch_search(
    n: int, seed: int, tracking: bool, workdir: Path, resumable: bool = True
) -> dict:
    from accelsearch.pipeline import make_tracker
    from accelsearch.recipe import recipe_from_dict
    from accelsearch.recipe_search import Search

    recipe = recipe_from_dict(
        {
            "name": "overhead" + ("" if tracking else "_nomlflow") + ("" if resumable else "_fast"),
            "num_classes": 2,
            "space": {"name": "overhead_trivial"},
            "latency": {"backend": "constant", "device": "cpu", "batch_size": 1},
            "accuracy": {"evaluator": "trivial"},
            "reward": {"target_ms": 1.0},
            "search": {
                "strategy": "optuna-tpe",
                "num_samples": n,
                "max_concurrent": 1,
                "cpus_per_trial": 1,
                "seed": seed,
                "resumable": resumable,
                "options": {"objectives": ["accuracy"]},
            },
        }
    )
    tracker = make_tracker(recipe, workdir, None) if tracking else None
    done: list[float] = []

    def clock(line: str) -> None:
        if " done, " in line:
            done.append(time.perf_counter())

    t0 = time.perf_counter()
    res = Search(recipe, workdir / recipe.name, tracker=tracker, printer=clock).run()
    total = time.perf_counter() - t0
    inside = [t.metrics["eval_s"] for t in res.trials if "eval_s" in t.metrics]
    timing = {"in_trial_ms": 1000 * sum(inside) / len(inside)} if inside else {}
    return {
        "total_s": total,
        "completed": len(res.completed),
        **timing,  # absent when the trials' metrics do not carry eval_s
        "steady_ms_per_trial": _steady_ms(done),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cpu", help="recorded only: the trials are trivial")
    p.add_argument(
        "--variants",
        default="plain_optuna,tune_optuna_default,tune_optuna_reuse,accelsearch,"
        "accelsearch_no_mlflow,accelsearch_not_resumable,accelsearch_not_resumable_no_mlflow",
    )
    p.add_argument("--quick", action="store_true", help="20 trials")
    p.add_argument(
        "--default-trials",
        type=int,
        default=30,
        help="trials for tune_optuna_default (a new actor per trial: ~1-2 s each, constant)",
    )
    args = p.parse_args(argv)
    n = 20 if args.quick else args.trials
    import optuna
    import ray
    import torch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    ray.init(
        num_cpus=os.cpu_count(),
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
        object_store_memory=256 * 1024**2,
    )
    work = Path(tempfile.mkdtemp(prefix="overhead-"))
    summary = {
        "benchmark": "orchestration_overhead",
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
        "load_average_at_start": os.getloadavg(),
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "ray": ray.__version__,
            "optuna": optuna.__version__,
        },
        "trials": n,
        "sampler": "optuna TPESampler(n_startup_trials=4, multivariate=True)",
        "concurrency": 1,
        "variants": {},
    }

    def write():
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(summary, indent=2))

    runs = {
        "plain_optuna": lambda: plain_optuna(n, args.seed),
        "tune_optuna_default": lambda: tune_optuna(
            min(n, args.default_trials), args.seed, False, str(work / "tune")
        ),
        "tune_optuna_reuse": lambda: tune_optuna(n, args.seed, True, str(work / "tune")),
        "accelsearch": lambda: accelsearch_search(n, args.seed, True, work),
        "accelsearch_no_mlflow": lambda: accelsearch_search(n, args.seed, False, work),
        "accelsearch_not_resumable": lambda: accelsearch_search(n, args.seed, True, work, False),
        "accelsearch_not_resumable_no_mlflow": lambda: accelsearch_search(
            n, args.seed, False, work, False
        ),
    }
    for name in args.variants.split(","):
        res = runs[name]()
        res["trials"] = min(n, args.default_trials) if name == "tune_optuna_default" else n
        res["ms_per_trial"] = 1000 * res["total_s"] / res["trials"]
        res.setdefault("steady_ms_per_trial", res["ms_per_trial"])
        if "in_trial_ms" in res:
            res["orchestration_ms_per_trial"] = res["ms_per_trial"] - res["in_trial_ms"]
        summary["variants"][name] = res
        write()
        print(
            f"[overhead] {name}: {res['total_s']:.1f} s, {res['ms_per_trial']:.1f} ms/trial",
            flush=True,
        )
    ray.shutdown()
    summary["load_average_at_end"] = os.getloadavg()
    write()
    print(f"\n{'variant':24s}{'total s':>10s}{'ms/trial':>10s}{'steady':>10s}{'in trial':>10s}")
    for name, r in summary["variants"].items():
        inside = f"{r['in_trial_ms']:.1f}" if "in_trial_ms" in r else "-"
        steady = r.get("steady_ms_per_trial")
        steady = f"{steady:.1f}" if steady is not None else "-"
        print(
            f"{name:24s}{r['total_s']:>10.1f}{r['ms_per_trial']:>10.1f}{steady:>10s}{inside:>10s}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
