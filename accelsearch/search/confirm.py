"""Confirming a search's winner: its best candidates trained again, each on other seeds.

A proxy training's accuracy moves with its seed. On an H100, the 14 GPUNet networks that two
budget runs both trained differed by 1.35 points (sd of the paired differences) and by up to
3.6, while each run's winner was 0.4-0.6 points above its runner-up
(``benchmarks/results/search/under_budget_gpu_h100_lut40.md``): the search's winner is
often the luckiest seed, not the best network. ``search.confirm: {top: k, seeds: n}``
trains the ``k`` best feasible trials ``n`` more times, each run on a seed of its own, and
the winner is named by the mean of those runs.

The search's own run is left out of that mean: it is why the trial was picked, so it is
biased high (the winner's curse), and the more so the luckier it was. A confirmed trial
keeps its search figures and gains ``accuracy_confirmed`` (the mean),
``accuracy_confirmed_sd``, ``confirm_runs`` and ``reward_confirmed`` (the reward of that
mean at the trial's latency); :meth:`SearchResult.best` then picks among the confirmed
trials by the confirmed figure.

The summary also says whether the confirming runs tell the winner from the runner-up: the
lead, and its standard error from the spread of *all* the confirming runs pooled (each
trial's own spread over two runs says little: on an H100 two networks 1.1 points apart by
two runs each, 2.5 of their own standard errors, were 0.1 points apart by seven or eight,
``benchmarks/results/search/confirm_h100.md``). A lead under :data:`SEPARATED_BY` standard
errors is reported as not told apart, with more seeds as the fix (after a race, a higher
cap).

``max_seeds`` races the leading two: while the lead is not told apart, each of the two
current leaders (taken afresh after every round, so a trial that overtakes joins) gets one
more run on its next seed, up to ``max_seeds`` runs each. A close pair then costs more runs
and a clear lead none (:func:`race_runs`).

This module chooses, sums up and writes the summary's lines (as
:mod:`accelsearch.search.budget_report` does for a budget); the application layer trains
(:mod:`accelsearch.confirm_run`).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from accelsearch.search.result import SearchResult, TrialRecord

SUFFIX = "_confirmed"  # metrics["accuracy" + SUFFIX]: the mean over the confirming runs
RANKED_BY = ("accuracy", "reward")
#: what a confirmed trial's metrics gain
CONFIRMED_METRICS = (
    "accuracy_confirmed",
    "accuracy_confirmed_sd",
    "confirm_runs",
    "reward_confirmed",
)
#: the fix named where the runs do not tell the winner apart
MORE_SEEDS = "more seeds (`search.confirm.seeds`, or `max_seeds` to race the leading two)"
#: the same advice once a race has run to its cap
MORE_RACE = "a higher `search.confirm.max_seeds`"
#: a confirmed winner is told apart from the runner-up when it leads by this many standard
#: errors (about 97.5 % one-sided for a spread known well, ~93 % with 3 degrees of freedom)
SEPARATED_BY = 2.0


@dataclass(frozen=True)
class ConfirmPlan:
    """Which trials are trained again, on which seeds, ranked by which metric; ``race_seeds``:
    the seeds after ``seeds`` that the two leaders may take while not told apart."""

    trial_ids: tuple[str, ...]
    seeds: tuple[int, ...]
    metric: str
    race_seeds: tuple[int, ...] = ()

    def runs(self) -> list[tuple[str, int]]:
        """(trial id, seed) for every training on ``seeds``, the best trial's first."""
        return [(t, s) for t in self.trial_ids for s in self.seeds]

    @property
    def all_seeds(self) -> tuple[int, ...]:
        return self.seeds + self.race_seeds


def plan(
    result: SearchResult,
    metric: str,
    top: int,
    seeds: Sequence[int],
    race_seeds: Sequence[int] = (),
) -> ConfirmPlan:
    """The ``top`` best feasible completed trials by ``metric`` (``accuracy`` or
    ``reward``; higher is better), best first, one per network: a sampler may propose a
    network twice, and its copies would train to the same figures on the same seeds.
    Called once the search has finished."""
    if metric not in RANKED_BY:
        raise ValueError(f"confirm ranks by one of {RANKED_BY}, got {metric!r}")
    done = [t for t in result.completed if t.feasible and metric in t.metrics]
    picked: dict[str, TrialRecord] = {}
    for trial in sorted(done, key=lambda t: -float(t.metrics[metric])):
        network = str(trial.arch) if trial.arch is not None else repr(sorted(trial.params.items()))
        picked.setdefault(network, trial)
        if len(picked) == top:
            break
    ids = tuple(t.trial_id for t in picked.values())
    return ConfirmPlan(ids, tuple(seeds), metric, tuple(race_seeds))


def apply(
    result: SearchResult,
    confirm_plan: ConfirmPlan,
    accuracies: dict[str, dict[int, float]],
    reward_of: Callable[[float, float], float],
) -> dict[str, Any]:
    """Write the confirmed figures into the planned trials' metrics (``accuracies``:
    trial id -> seed -> accuracy of the runs that finished) and return the summary that
    goes to ``result.summary["confirm"]``. ``reward_of(accuracy, latency_ms)`` is the
    search's reward. Confirmed figures of trials outside the plan are dropped. A trial none
    of whose runs finished stays unconfirmed (``failed`` in the summary), and
    :meth:`SearchResult.best` passes it over while others are confirmed.
    Called after the last confirming run; calling it again gives the same."""
    by_id = {t.trial_id: t for t in result.trials}
    for trial in result.trials:  # figures of an earlier plan (resumed with other settings)
        for key in CONFIRMED_METRICS:
            trial.metrics.pop(key, None)
    rows, failed, values = [], [], {}
    metric = confirm_plan.metric
    for rank, tid in enumerate(confirm_plan.trial_ids, 1):
        trial = by_id[tid]
        mine = accuracies.get(tid, {})
        seeds = [s for s in confirm_plan.all_seeds if s in mine]
        accs = [mine[s] for s in seeds]
        if not accs:
            failed.append(tid)
            continue
        mean = statistics.fmean(accs)
        latency = float(trial.metrics["latency_ms"])
        trial.metrics.update(
            accuracy_confirmed=mean,
            accuracy_confirmed_sd=statistics.stdev(accs) if len(accs) > 1 else 0.0,
            confirm_runs=len(accs),
            reward_confirmed=reward_of(mean, latency),
        )
        rows.append(_row(trial, rank, accs, seeds))
        values[tid] = accs if metric == "accuracy" else [reward_of(a, latency) for a in accs]
    after = sorted(rows, key=lambda r: -r[f"{metric}_confirmed"])
    for rank, row in enumerate(after, 1):
        row["rank_confirmed"] = rank
    before = confirm_plan.trial_ids[0] if confirm_plan.trial_ids else None
    winner = after[0]["trial_id"] if after else before
    ranked = [values[r["trial_id"]] for r in after]
    return {
        "metric": metric,
        "seeds": list(confirm_plan.seeds),
        "max_seeds": len(confirm_plan.all_seeds),
        "race_runs": sum(
            s in accuracies.get(t, {})
            for t in confirm_plan.trial_ids
            for s in confirm_plan.race_seeds
        ),
        "winner_search": before,
        "winner_confirmed": winner,
        "changed": before != winner,
        "lead": lead(ranked, [r["trial_id"] for r in after]),
        "trials": rows,
        "failed": failed,
    }


def race_runs(
    confirm_plan: ConfirmPlan, accuracies: dict[str, dict[int, float]], summary: dict[str, Any]
) -> list[tuple[str, int]]:
    """The next runs of the race (``search.confirm.max_seeds``): one more run, on its next
    seed, for each of the two leading trials while :func:`apply`'s summary says the lead is
    not told apart; empty once it is, once both have run on every seed, or without race
    seeds. Called after each round of runs."""
    lead_ = summary.get("lead")
    if not confirm_plan.race_seeds or not lead_ or lead_["separated"]:
        return []
    runs = []
    for tid in (summary["winner_confirmed"], lead_["runner_up"]):
        done = accuracies.get(tid, {})
        seed = next((s for s in confirm_plan.all_seeds if s not in done), None)
        if seed is not None:
            runs.append((tid, seed))
    return runs


def lead(ranked: list[list[float]], ids: list[str]) -> dict[str, Any] | None:
    """How far the first of ``ranked`` (each trial's confirming runs, best mean first) leads
    the second, with the standard error of that difference from the runs' spread pooled over
    all trials (``pooled_sd``, on ``df`` degrees of freedom); ``separated`` when the lead is
    at least :data:`SEPARATED_BY` standard errors. ``None`` with fewer than two trials;
    ``se`` None (and not separated) where no trial has two runs."""
    if len(ranked) < 2:
        return None
    df = sum(len(v) - 1 for v in ranked)
    squares = sum(statistics.variance(v) * (len(v) - 1) for v in ranked if len(v) > 1)
    pooled = (squares / df) ** 0.5 if df else None
    first, second = ranked[0], ranked[1]
    points = statistics.fmean(first) - statistics.fmean(second)
    se = pooled * (1 / len(first) + 1 / len(second)) ** 0.5 if pooled is not None else None
    return {
        "runner_up": ids[1],
        "points": points,
        "se": se,
        "pooled_sd": pooled,
        "df": df,
        "separated": bool(se is not None and points > 0 and points >= SEPARATED_BY * se),
    }


def _row(trial: TrialRecord, rank: int, accs: list[float], seeds: list[int]) -> dict[str, Any]:
    m = trial.metrics
    return {
        "trial_id": trial.trial_id,
        "latency_ms": m["latency_ms"],
        "accuracy_search": m["accuracy"],
        "reward_search": m.get("reward"),
        "accuracies": accs,
        "seeds": seeds,
        "accuracy_confirmed": m["accuracy_confirmed"],
        "accuracy_confirmed_sd": m["accuracy_confirmed_sd"],
        "reward_confirmed": m["reward_confirmed"],
        "rank_search": rank,
    }


def confirm_seeds(base_seed: int, runs: int) -> tuple[int, ...]:
    """The confirming runs' seeds: the ``runs`` seeds after the search's own. A retried
    unstable run moves 10,007 seeds on (``objectives/accuracy/train.py``), clear of these."""
    return tuple(base_seed + j for j in range(1, runs + 1))


def describe(summary: dict[str, Any]) -> str:
    """One paragraph for the console: the confirmed winner, and whether it changed."""
    failed = len(summary["errors"])
    head = (
        f"[confirm] {len(summary['trials'])} best trials by {summary['metric']}, each trained "
        f"{len(summary['seeds'])} more time(s){_raced(summary)} ({summary['train_s']:.0f} s"
        + (f"; {failed} run(s) failed, `accelsearch resume` trains them again" if failed else "")
        + "): "
    )
    if summary["changed"]:
        verdict = (
            f"the winner is trial {summary['winner_confirmed']}, not the search's "
            f"{summary['winner_search']}"
        )
    else:
        verdict = f"trial {summary['winner_confirmed']} stays the winner"
    told = lead_text(summary)
    return head + verdict + (f"; {told}" if told else "")


def lead_text(summary: dict[str, Any]) -> str:
    """The winner's lead over the runner-up in words, and whether the runs tell them apart;
    after a race (``race_runs``) only a higher cap would add runs, so that is the fix named."""
    lead_ = summary.get("lead")
    if not lead_:
        return ""
    unit = " points" if summary["metric"] == "accuracy" else ""
    head = f"it leads trial {lead_['runner_up']} by {lead_['points']:.2f}{unit}"
    if lead_["se"] is None:
        return head + (f" (one run each: their spread is unknown; {MORE_SEEDS} would tell)")
    head += f" ± {lead_['se']:.2f} (sd {lead_['pooled_sd']:.2f}, pooled over the confirming runs)"
    if lead_["separated"]:
        return head + ": told apart"
    return head + (
        f": not told apart (under {SEPARATED_BY:g} standard errors); "
        f"{MORE_RACE if summary.get('race_runs') else MORE_SEEDS} would narrow it"
    )


def _raced(summary: dict[str, Any]) -> str:
    """Where the race ran: how many runs it added, and its cap."""
    if not summary.get("race_runs"):
        return ""
    return (
        f", the leading two raced ({summary['race_runs']} more runs, up to "
        f"{summary['max_seeds']} each)"
    )


def markdown(summary: dict[str, Any] | None) -> list[str]:
    """The summary's ``### Confirmed`` lines: a table of the confirmed trials."""
    if not summary:
        return []
    head = ["trial", "latency ms", "search acc %", "confirmed acc % (mean ± sd)", "runs",
            "rank: search → confirmed"]  # fmt: skip
    rows = [
        f"| `{r['trial_id']}` | {r['latency_ms']:.3f} | {r['accuracy_search']:.2f} | "
        f"{r['accuracy_confirmed']:.2f} ± {r['accuracy_confirmed_sd']:.2f} | "
        f"{len(r['accuracies'])} | {r['rank_search']} → {r['rank_confirmed']} |"
        for r in summary["trials"]
    ]
    verdict = (
        f"**The winner changed**: trial `{summary['winner_confirmed']}`, not the search's "
        f"`{summary['winner_search']}`."
        if summary["changed"]
        else f"Trial `{summary['winner_confirmed']}` stays the winner."
    )
    failed = [
        f"- trial `{e['trial_id']}`, seed {e['seed']}: {e['error'][:300]}"
        for e in summary.get("errors", [])
    ]
    if failed:
        failed = ["Confirming runs that failed (`accelsearch resume` trains them again):",
                  "", *failed, ""]  # fmt: skip
    return [
        f"### Confirmed on {len(summary['seeds'])} more seed(s): {summary['seeds']}"
        + _raced(summary),
        "",
        f"The best trials by {summary['metric']}, trained again; ranked by the mean of these "
        "runs, which leaves out the search's own (it is why the trial was picked, so biased "
        f"high). {verdict} {_sentence(lead_text(summary))}"
        f"{summary['train_s']:.0f} s of training.",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "---|" * len(head),
        *rows,
        "",
        *failed,
    ]


def _sentence(text: str) -> str:
    return f"{text[0].upper()}{text[1:]}. " if text else ""
