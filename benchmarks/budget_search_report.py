"""Tables of ``budget_search_nb201.py``: means over seeds, the target check and the markdown
record (one table per budget)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

PERCENTILES = (10, 25, 50)
CHECKPOINTS = (25, 50, 100)
TARGET_REGRET = 0.3


def summarise(runs: list[dict], measure_s: float, train_s: float) -> dict:
    """Mean over seeds per (strategy, arm, percentile)."""
    out: dict = {}
    keys = sorted({(r["strategy"], r["arm"], r["percentile"]) for r in runs})
    for name, arm, pct in keys:
        rs = [r for r in runs if (r["strategy"], r["arm"], r["percentile"]) == (name, arm, pct)]
        ok = [r for r in rs if "error" not in r]
        row: dict = {"seeds": len(ok)}
        if not ok:
            row["not_applicable"] = rs[0]["error"].strip().splitlines()[-1][:300]
            out.setdefault(name, {}).setdefault(arm, {})[str(pct)] = row
            continue
        for k in CHECKPOINTS:
            vals = [r.get(f"regret_{k}") for r in ok if f"regret_{k}" in r]
            row[f"regret_{k}"] = _mean_or_none(vals)
            row[f"no_feasible_{k}"] = sum(v is None for v in vals)
            row[f"within_0.3_{k}"] = sum(v is not None and v <= TARGET_REGRET for v in vals)
        for key in ("evals_to_best", "evals_to_within_0.3"):
            hits = [r[key] for r in ok if r.get(key) is not None]
            row[key] = {"median": float(np.median(hits)) if hits else None, "found": len(hits)}
        trained = sum(r["trainings"] for r in ok)
        bad = sum(r["trained_infeasible"] for r in ok)
        row["trainings"] = trained / len(ok)
        row["infeasible_training_share"] = bad / trained if trained else None
        row["measured_infeasible"] = float(np.mean([r["measured_infeasible"] for r in ok]))
        row["screened"] = float(np.mean([r["screened"] for r in ok]))
        measured = trained + sum(r["measured_infeasible"] for r in ok)
        row["gpu_s"] = {
            "spent": (measured * measure_s + trained * train_s) / len(ok),
            "on_infeasible": (
                bad * (measure_s + train_s) + sum(r["measured_infeasible"] for r in ok) * measure_s
            )
            / len(ok),
            "saved_by_screen": row["screened"] * measure_s,
        }
        row["wall_s_per_run"] = float(np.mean([r["wall_s"] for r in ok]))
        out.setdefault(name, {}).setdefault(arm, {})[str(pct)] = row
    return out


def target_check(table: dict) -> dict:
    """Per constrained (strategy, arm): mean regret after 50 trainings <= 0.3 and under 5 %
    of trainings over the budget, at every budget; the best such row, and plain TPE."""
    rows = []
    for name, arms in table.items():
        for arm, per in arms.items():
            if arm == "plain" or any("not_applicable" in r for r in per.values()):
                continue
            if len(per) < len(PERCENTILES):
                continue
            r50 = [per[str(p)].get("regret_50") for p in PERCENTILES]
            share = [per[str(p)].get("infeasible_training_share") or 0.0 for p in PERCENTILES]
            worst = None if any(v is None for v in r50) else max(r50)
            met = worst is not None and worst <= TARGET_REGRET and max(share) < 0.05
            # the stricter reading: every seed within 0.3 points after 50, at every budget
            within = [per[str(p)].get("within_0.3_50", 0) for p in PERCENTILES]
            seeds = [per[str(p)]["seeds"] for p in PERCENTILES]
            every = max(share) < 0.05 and all(k == n for k, n in zip(within, seeds))
            rows.append({"strategy": name, "arm": arm, "worst_regret_50": worst,
                         "regret_50": r50, "infeasible_share": share, "met": met,
                         "seeds_within_0.3_50": within, "seeds": seeds,
                         "met_every_seed": every})  # fmt: skip
    rows.sort(key=lambda r: (r["worst_regret_50"] is None, r["worst_regret_50"] or 0))
    return {"best": rows[0] if rows else None, "met": any(r["met"] for r in rows), "rows": rows}


def _fmt(v, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def markdown(summary: dict) -> str:
    """The result tables (one per budget) and the target check, for the .md record."""
    table, lines = summary["table"], []
    for pct, b in summary["budgets"].items():
        lines += [
            f"### Budget: {pct}th percentile, {b['latency_ms']:.4f} ms "
            f"({b['feasible_cells']} feasible cells, best feasible {b['best_feasible_accuracy']:.2f} %)",
            "",
            "| strategy | arm | regret @25 | @50 | @100 | seeds <= 0.3 @50 | trainings to best "
            "(median, found) | to within 0.3 | trainings over budget | measured over, "
            "not trained | screened | GPU-s spent | on infeasible | saved by screen |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for name, arms in table.items():
            for arm, per in arms.items():
                r = per.get(pct)
                if r is None:
                    continue
                if "not_applicable" in r:
                    lines.append(
                        f"| {name} | {arm} | not applicable: {r['not_applicable'][:120]} |"
                    )
                    continue
                best, close = r["evals_to_best"], r["evals_to_within_0.3"]
                lines.append(
                    f"| {name} | {arm} | {_fmt(r.get('regret_25'))} | {_fmt(r.get('regret_50'))} "
                    f"| {_fmt(r.get('regret_100'))} | {r.get('within_0.3_50', 0)}/{r['seeds']} "
                    f"| {_fmt(best['median'], 0)} ({best['found']}/{r['seeds']}) "
                    f"| {_fmt(close['median'], 0)} ({close['found']}/{r['seeds']}) "
                    f"| {100 * (r['infeasible_training_share'] or 0):.1f} % "
                    f"| {r['measured_infeasible']:.1f} | {r['screened']:.1f} "
                    f"| {r['gpu_s']['spent']:.0f} | {r['gpu_s']['on_infeasible']:.0f} "
                    f"| {r['gpu_s']['saved_by_screen']:.0f} |"
                )
        lines.append("")
    check = summary.get("target")
    if check and check["best"]:
        b = check["best"]
        lines += [
            f"Best constrained row by its worst budget: `{b['strategy']}` ({b['arm']}), mean "
            f"regret after 50 trainings {', '.join(_fmt(v) for v in b['regret_50'])} "
            f"(10th/25th/50th), trainings over the budget "
            f"{', '.join(f'{100 * v:.1f} %' for v in b['infeasible_share'])}: target "
            f"{'met' if b['met'] else 'not met'}.",
        ]
        within = b.get("seeds_within_0.3_50")
        if within:
            lines += [
                "",
                f"Every seed: within 0.3 points after 50 trainings on "
                f"{', '.join(f'{k}/{n}' for k, n in zip(within, b['seeds']))} seeds "
                f"(10th/25th/50th): {'met' if b['met_every_seed'] else 'not met'} on every seed.",
            ]
    return "\n".join(lines)


def _mean_or_none(vals: list) -> float | None:
    if not vals or any(v is None for v in vals):
        return None
    return float(np.mean(vals))


BEGIN, END = "<!-- tables: written by budget_search_nb201.py -->", "<!-- /tables -->"


def write_tables(path: Path, tables: str) -> None:
    """Put the tables into the record's markdown between the markers (the text around them
    is kept); a new file holds the tables alone."""
    block = f"{BEGIN}\n\n{tables}\n\n{END}"
    text = path.read_text() if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = (text.rstrip() + "\n\n" if text else "") + block + "\n"
    path.write_text(text)
