"""One trial of a finished run trained again on many seeds: how far its proxy accuracy spreads.

``search.confirm`` names a winner by the mean of a few seeds. How many are needed, and
whether a mean or a median, depends on the spread of one network's accuracy over seeds and
on its tail: on an H100 two confirming runs of a budget search's winner were 6.9 points
apart without a loss spike (``results/search/confirm_h100.md``). This trains the trials
named (by id, or the run's ``--top`` best feasible ones) on ``--seeds`` with the run's own
recipe and evaluator, and keeps each run's accuracy, its per-epoch validation accuracy and
train loss, and the loss guard's flag; the JSON is written after every run, so a cut call
keeps what finished, and a second call with the same ``--out`` trains only what is missing.

    python benchmarks/seed_spread.py --run /tmp/budget/latest --trials f8a41307 \
        --seeds 1-8 --out $OUT/seed_spread.json [--set accuracy.options.dataset=...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from accelsearch.confirm_run import train_run  # noqa: E402
from accelsearch.recipe import load_recipe  # noqa: E402
from accelsearch.search.result import SearchResult  # noqa: E402


def seeds_of(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def chosen_trials(result: SearchResult, ids: list[str], top: int) -> list:
    """The trials named by id, else the ``top`` most accurate feasible completed ones."""
    if ids:
        by_id = {t.trial_id: t for t in result.trials}
        missing = [i for i in ids if i not in by_id]
        if missing:
            raise SystemExit(f"--trials: no trial {missing} in this run")
        return [by_id[i] for i in ids]
    done = [t for t in result.completed if t.feasible and "accuracy" in t.metrics]
    return sorted(done, key=lambda t: -float(t.metrics["accuracy"]))[:top]


def summary(runs: list[dict]) -> dict:
    out = {}
    for tid in dict.fromkeys(r["trial_id"] for r in runs):
        accs = [r["accuracy"] for r in runs if r["trial_id"] == tid]
        out[tid] = {
            "runs": len(accs),
            "mean": statistics.fmean(accs),
            "median": statistics.median(accs),
            "sd": statistics.stdev(accs) if len(accs) > 1 else 0.0,
            "min": min(accs),
            "max": max(accs),
        }
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="a run folder (recipe.json, search.json)")
    p.add_argument("--trials", nargs="*", default=[], help="trial ids (default: --top best)")
    p.add_argument("--top", type=int, default=1)
    p.add_argument("--seeds", default="1-8", help="e.g. 1-8")
    p.add_argument("--out", required=True)
    p.add_argument("--set", action="append", default=[], help="recipe override, as for run")
    args = p.parse_args(argv)
    run = Path(args.run)
    recipe = load_recipe(run / "recipe.json", args.set)
    result = SearchResult.load(run / "search.json")
    out = Path(args.out)
    record = json.loads(out.read_text()) if out.exists() else {"runs": []}
    record["command"] = " ".join(sys.argv)
    done = {(r["trial_id"], r["seed"]) for r in record["runs"]}
    for trial in chosen_trials(result, args.trials, args.top):
        for seed in seeds_of(args.seeds):
            if (trial.trial_id, seed) in done:
                continue
            # what a confirming run keeps (accelsearch.confirm_run.train_run)
            row = {"trial_id": trial.trial_id, "seed": seed, **train_run(recipe, trial.arch, seed)}
            record["runs"].append(row)
            record["summary"] = summary(record["runs"])
            out.write_text(json.dumps(record, indent=1))
            print(f"{trial.trial_id} seed {seed}: {row['accuracy']:.2f} % "
                  f"({row['seconds']:.0f} s, unstable {row.get('proxy_unstable')})", flush=True)  # fmt: skip
    print(json.dumps(record.get("summary", {}), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
