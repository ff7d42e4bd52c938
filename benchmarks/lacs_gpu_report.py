"""One LACS result from several ``lacs_gpu.py`` calls: the last finished entry per base.

A GPU call is at most ~10 minutes here, so ``lacs_gpu.py --state-dir`` runs one family over
several calls; each call writes its own JSON. This merges them, adds what a reader asks
first (does accuracy rise with latency in each family; LACS against the accuracy-only
coefficients at equal latency, and the latency each needs for equal accuracy; the per-seed
spread and diverged seeds) and writes ``OUT.json`` and ``OUT.md``::

    python benchmarks/lacs_gpu_report.py call1.json call3.json \
        --out benchmarks/results/scaling/lacs_gpu_h100
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from accelsearch.objectives.reward import mnas_reward  # noqa: E402

DIVERGED_POINTS = 5.0  # a seed this far below the arch's best seed is reported as diverged


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("results", nargs="+", help="lacs_gpu.py JSON files, oldest first")
    p.add_argument("--out", required=True, help="path without suffix: writes .json and .md")
    p.add_argument("--command", default="", help="the commands that produced the inputs")
    p.add_argument(
        "--state",
        help="the --state-dir of the calls: seeds trained after the last full call (a cut "
        "call's) join the triple choice",
    )
    return p.parse_args(argv)


def finished_bases(paths: list[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The last entry with a LACS family per base, and the environments of the calls."""
    bases: dict[str, Any] = {}
    calls = []
    for path in paths:
        data = json.loads(Path(path).read_text())
        calls.append({"file": Path(path).name, "environment": data.get("environment")})
        for entry in data.get("bases", []):
            if entry.get("lacs") and (entry.get("efficientnet") or entry["base"] not in bases):
                bases[entry["base"]] = {**entry, "from_file": Path(path).name}
    return bases, calls


def interpolate(xs: list[float], ys: list[float], y: float) -> float | None:
    """The x where the piecewise-linear curve (xs ascending) first reaches ``y``; None
    outside the curve's accuracy range."""
    for (x0, y0), (x1, y1) in zip(zip(xs, ys), zip(xs[1:], ys[1:])):
        if y0 <= y <= y1 and y1 > y0:
            return x0 + (x1 - x0) * (y - y0) / (y1 - y0)
    return None  # below the curve's first point (worse than the base) or above its last


def seed_rows(entry: dict[str, Any], extra=()) -> dict[str, dict[int, float]]:
    by_key: dict[str, dict[int, float]] = {}
    for rec in [*entry.get("proxy_trainings", []), *extra]:
        if "error" not in rec:
            by_key.setdefault(rec["key"], {})[int(rec["seed"])] = rec["accuracy"]
    return by_key


def member_key(member: dict[str, Any], entry: dict[str, Any]) -> str | None:
    """The arch hash of a member row (older results lack ``key``: the trained arch whose
    seed mean is the member's accuracy)."""
    if member.get("key"):
        return member["key"]
    for key, accs in seed_rows(entry).items():
        if accs and abs(sum(accs.values()) / len(accs) - member["accuracy"]) < 1e-6:
            return key
    return None


def grid_choice(entry: dict[str, Any], extra=()) -> dict[str, Any]:
    """The triple choice from every seed trained for the grid archs: chosen on each seed, and
    the reward gap against the seed spread of the two archs compared (lacs_gpu's rule)."""
    grid = entry["lacs"]["grid"]
    target = sorted(m["target_ms"] for m in entry["lacs"]["members"] if m["phi"] > 0)[0]
    seeds2 = seed_rows(entry)  # the seeds the call itself scored: find each grid arch's key
    rows = seed_rows(entry, extra)
    points = []
    for g in grid:
        key = next(
            (
                k
                for k, accs in seeds2.items()
                if g["accuracy"] is not None
                and abs(sum(accs.values()) / len(accs) - g["accuracy"]) < 1e-6
            ),
            None,
        )
        if key is not None:
            points.append((tuple(g["alpha_beta_gamma"]), g["latency_ms"], rows[key]))

    def reward(acc: float, ms: float) -> float:
        return mnas_reward(acc, ms, target, -0.09)

    mean = {t: reward(sum(a.values()) / len(a), ms) for t, ms, a in points}
    ranked = sorted(mean, key=lambda t: -mean[t])
    seeds = sorted(set.intersection(*(set(a) for _, _, a in points)))
    by_seed = {sd: max(points, key=lambda p: reward(p[2][sd], p[1]))[0] for sd in seeds}
    spread = max(max(a.values()) - min(a.values()) for t, _, a in points if t in ranked[:2])
    gap = mean[ranked[0]] - mean[ranked[1]]
    clear = gap > spread and len(set(by_seed.values())) == 1
    return {
        "seeds": seeds,
        "chosen": list(ranked[0]),
        "runner_up": list(ranked[1]),
        "reward_gap": gap,
        "seed_accuracy_spread_max": spread,
        "chosen_by_seed": {str(k): list(v) for k, v in by_seed.items()},
        "verdict": "clear" if clear else "tie (inside the seeds' noise)",
    }


def analyse(entry: dict[str, Any], extra=()) -> dict[str, Any]:
    lacs, eff = entry["lacs"]["members"], entry["efficientnet"]["members"]
    rises = {
        name: all(b["accuracy"] > a["accuracy"] for a, b in zip(ms, ms[1:]))
        for name, ms in (("lacs", lacs), ("efficientnet", eff))
    }
    eff_grown = [m for m in eff if m["phi"] > 0] or eff
    xs = [lacs[0]["latency_ms"]] + [m["latency_ms"] for m in eff_grown]
    ys = [lacs[0]["accuracy"]] + [m["accuracy"] for m in eff_grown]
    speed = []
    for m in lacs[1:]:
        needed = interpolate(xs, ys, m["accuracy"])
        speed.append(
            {
                "lacs_latency_ms": m["latency_ms"],
                "lacs_accuracy": m["accuracy"],
                "efficientnet_latency_ms_at_equal_accuracy": needed,
                "lacs_faster_pct": None if needed is None else 100 * (1 - m["latency_ms"] / needed),
            }
        )
    diverged = [
        {"key": key, "seed": sd, "accuracy": acc, "best_seed": max(accs.values())}
        for key, accs in seed_rows(entry).items()
        for sd, acc in accs.items()
        if max(accs.values()) - acc > DIVERGED_POINTS
    ]
    within = [abs(m["error_pct"]) <= 100 * 0.02 for m in lacs[1:] + eff_grown]
    flagged = {(d["key"], d["seed"]) for d in diverged}
    stable = {
        key: sum(v for sd, v in accs.items() if (key, sd) not in flagged)
        / sum(1 for sd in accs if (key, sd) not in flagged)
        for key, accs in seed_rows(entry).items()
    }
    return {
        "accuracy_rises_with_latency": rises,
        "members_within_2pct": f"{sum(within)}/{len(within)}",
        "equal_latency": entry.get("comparison", []),
        "equal_accuracy": speed,
        "choice_as_recorded": entry["lacs"].get("choice"),
        "choice": grid_choice(entry, extra),
        "diverged_seeds": diverged,
        "without_diverged_seeds": {
            name: [stable.get(member_key(m, entry), m["accuracy"]) for m in ms]
            for name, ms in (("lacs", lacs), ("efficientnet", eff))
        },
    }


def fmt(v: Any, spec: str = ".2f") -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def markdown(result: dict[str, Any]) -> str:
    env = result["calls"][-1]["environment"] or {}
    lines = [
        f"# LACS on the recipe's proxy: {', '.join(result['families'])} ({env.get('device_name')})",
        "",
        f"{env.get('date', '')[:10]}, torch {env.get('torch')}, timm {env.get('timm')}, "
        f"CUDA {env.get('cuda')}. Latency: project `torch` backend, CUDA graphs, "
        f"{result['precision']}, batch {result['batch_size']}. Accuracy: the GPU recipe's proxy "
        "(`recipes/efficientnet_x_gpu.yaml`: full CIFAR-10, 8 epochs, resolution × 0.286, "
        f"head lr rule) with seeds {result['seeds']}, mean scored. Calls: "
        + ", ".join(c["file"] for c in result["calls"]),
        "",
        f"Command: `{result['command']}`",
    ]
    for name, fam in result["bases"].items():
        a = fam["analysis"]
        lines += [
            "",
            f"## {name}: chosen (α, β, γ) = {tuple(fam['lacs']['alpha_beta_gamma'])}",
            "",
            "| target ms | LACS ms | err % | acc | acc-only ms | err % | acc | Δacc |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        eff = {round(m["target_ms"], 6): m for m in fam["efficientnet"]["members"]}
        for m in fam["lacs"]["members"]:
            e = eff.get(round(m["target_ms"], 6)) if m["phi"] > 0 else None
            row = f"| {m['target_ms']:.3f} | {m['latency_ms']:.3f} | {m['error_pct']:+.1f} | "
            row += f"{fmt(m['accuracy'])} | "
            if e is None:
                row += "(base) | | | |"
            else:
                delta = m["accuracy"] - e["accuracy"]
                row += f"{e['latency_ms']:.3f} | {e['error_pct']:+.1f} | {fmt(e['accuracy'])} | "
                row += f"{delta:+.2f} |"
            lines.append(row)
        speed = "; ".join(
            f"{s['lacs_accuracy']:.2f} % at {s['lacs_latency_ms']:.2f} ms vs "
            + (
                f"{s['efficientnet_latency_ms_at_equal_accuracy']:.2f} ms "
                f"({s['lacs_faster_pct']:+.0f} % faster)"
                if s["efficientnet_latency_ms_at_equal_accuracy"] is not None
                else "outside the acc-only curve's accuracy range"
            )
            for s in a["equal_accuracy"]
        )
        choice = a["choice"] or {}
        lines += [
            "",
            f"- accuracy rises with latency: LACS {a['accuracy_rises_with_latency']['lacs']}, "
            f"acc-only coefficients {a['accuracy_rises_with_latency']['efficientnet']}; "
            f"members within 2 % of their target: {a['members_within_2pct']}",
            f"- equal accuracy (acc-only curve interpolated): {speed}",
            f"- choice (grid seeds {choice.get('seeds')}): {tuple(choice.get('chosen', ()))} "
            "over runner-up "
            f"{tuple(choice.get('runner_up', ()))} by {fmt(choice.get('reward_gap'))} reward; "
            f"per seed {choice.get('chosen_by_seed')}; largest seed spread "
            f"{fmt(choice.get('seed_accuracy_spread_max'))} points → **{choice.get('verdict')}**",
            f"- diverged seeds (> {DIVERGED_POINTS:g} points below the arch's best seed): "
            + (
                "; ".join(
                    f"{d['key'][:8]} seed {d['seed']} {d['accuracy']:.2f} (best {d['best_seed']:.2f})"
                    for d in a["diverged_seeds"]
                )
                or "none"
            ),
            "- without the diverged seeds: LACS "
            + ", ".join(fmt(v) for v in a["without_diverged_seeds"]["lacs"])
            + "; acc-only "
            + ", ".join(fmt(v) for v in a["without_diverged_seeds"]["efficientnet"]),
            f"- proxy trainings {len(fam.get('proxy_trainings', []))}, "
            f"proxy wall {fmt(fam.get('proxy_wall_s'), '.0f')} s over the calls",
        ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = parse_args(argv)
    bases, calls = finished_bases(args.results)
    if not bases:
        raise SystemExit("no finished LACS family in " + ", ".join(args.results))
    first = json.loads(Path(args.results[-1]).read_text())
    result = {
        "benchmark": "lacs_gpu",
        "families": list(bases),
        "calls": calls,
        "command": args.command,
        "precision": first.get("precision"),
        "batch_size": first.get("batch_size"),
        "seeds": first.get("settings", {}).get("seeds"),
        "proxy_options": first.get("proxy_options"),
        "bases": {},
    }
    for name, entry in bases.items():
        if not entry.get("efficientnet"):
            raise SystemExit(f"{name}: no acc-only comparison in {entry['from_file']}")
        extra = []
        if args.state:
            slug = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_")
            state = Path(args.state) / f"{slug}_proxy.json"
            extra = json.loads(state.read_text())["records"] if state.exists() else []
        result["bases"][name] = {**entry, "analysis": analyse(entry, extra)}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(result, indent=2, default=str))
    out.with_suffix(".md").write_text(markdown(result))
    print(out.with_suffix(".md").read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
