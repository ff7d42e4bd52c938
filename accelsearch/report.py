"""Tables, ``summary.md`` and reward wording at the end of a run (progress while a search
runs: :mod:`accelsearch.progress`, its names also reachable from here: ``report.SearchProgress``,
``report.show_progress``, ``report.LivePrinter``, ``report.console_printer``; the plot:
:mod:`accelsearch.plots`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from accelsearch.progress import LivePrinter as LivePrinter
from accelsearch.progress import SearchProgress as SearchProgress
from accelsearch.progress import console_printer as console_printer
from accelsearch.progress import show_progress as show_progress
from accelsearch.scaling.family import Family
from accelsearch.search import confirm
from accelsearch.search.budget_report import budget_markdown
from accelsearch.search.result import SearchResult

#: after a latency that still looked busy when measured again (LatencyResult.noisy)
NOISY_MARK = " ~"
SPIKE_MARK = " †"  # the proxy training's loss spiked (" !" marks members off their target)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _utilisation(metrics: dict[str, Any]) -> float | None:
    """Achieved ÷ peak FLOP/s of a trial, in percent, when the trial reported it."""
    for key in ("utilization", "utilisation"):
        if isinstance(metrics.get(key), (int, float)):
            return 100.0 * float(metrics[key])
    return None


def pareto_rows(result: SearchResult) -> tuple[list[str], list[list[str]]]:
    """The Pareto set; under a budget a column ``feasible`` marks trials over it (``✗``)."""
    front = result.pareto()
    util = any(_utilisation(t.metrics) is not None for t in front)
    budgeted = any("feasible" in t.metrics for t in result.trials)
    head = ["trial", "accuracy %", "latency ms", "reward", "params M", "GFLOPs"]
    head += ["util %"] if util else []
    head += ["feasible"] if budgeted else []
    rows = []
    for t in front:
        row = [
            t.trial_id,
            _fmt(t.metrics.get("accuracy"), 2)
            + (SPIKE_MARK if t.metrics.get("proxy_unstable") else ""),
            _fmt(t.metrics.get("latency_ms"))
            + (NOISY_MARK if t.metrics.get("latency_noisy") else ""),
            _fmt(t.metrics.get("reward")),
            _fmt(t.metrics.get("params_m")),
            _fmt(t.metrics.get("gflops")),
        ]
        if util:
            row.append(_fmt(_utilisation(t.metrics), 1))
        if budgeted:
            row.append("✓" if t.feasible else "✗ over budget")
        rows.append([*row, str(t.arch) if t.arch else "-"])
    return [*head, "arch"], rows


def strategy_markdown(summary: dict[str, Any] | None) -> str:
    """What the search strategy concluded (``SearchResult.summary``), for ``summary.md``:
    a table of latency bins and their winners (``stratified``), or the summary as JSON."""
    import json

    summary = {k: v for k, v in (summary or {}).items() if k not in ("budget", "screen", "confirm")}
    if not summary:
        return ""
    bins = summary.get("bins")
    if isinstance(bins, list) and bins:
        metric = summary.get("metric", "accuracy")
        unit = summary.get("predictor_unit", "ms")
        head = [f"bin ({unit})", "candidates", "evaluated", metric, "latency ms", "arch"]
        rows = []
        for b in bins:
            lo, hi = (b.get("range") or [None, None])[:2]
            win = b.get("winner") or {}
            rows.append(
                [
                    f"{_fmt(lo)}-{_fmt(hi)}",
                    str(b.get("candidates", "-")),
                    str(b.get("evaluated", "-")),
                    _fmt(win.get(metric), 2),
                    _fmt(win.get("latency_ms")),
                    str(win.get("arch") or "-"),
                ]
            )
        return markdown_table(head, rows)
    return "```json\n" + json.dumps(summary, indent=2, default=str) + "\n```"


def family_rows(family: Family) -> tuple[list[str], list[list[str]]]:
    """One row per member; intensity and utilisation columns when the roofline filled them."""
    roofline = any(m.intensity is not None or m.utilisation is not None for m in family.members)
    head = [
        "member",
        "target ms",
        "latency ms",
        "error %",
        "φ",
        "accuracy %",
        "reward",
        "params M",
        "GFLOPs",
        "resolution",
        "measurements",
        "solve",
    ] + (["FLOP/B", "utilisation %"] if roofline else [])
    rows = []
    for m in family.members:
        row = [
            m.name,
            _fmt(m.target_ms),
            _fmt(m.latency_ms) + (NOISY_MARK if m.latency.get("noisy") else ""),
            f"{100 * m.latency_error:+.1f}" + ("" if m.within_tolerance or m.phi == 0 else " !"),
            f"{m.phi:.4g}",
            _fmt(m.accuracy, 2),
            _fmt(m.reward),
            _fmt(m.params_m),
            _fmt(m.gflops),
            str(m.arch.resolution),
            str(m.n_measurements),
            m.solve or "-",
        ]
        if roofline:
            util = None if m.utilisation is None else 100 * m.utilisation
            row += [_fmt(m.intensity, 1), _fmt(util, 1)]
        rows.append(row)
    return head, rows


def comparison_rows(family: Family) -> tuple[list[str], list[list[str]]]:
    """Per target: this family against its baseline (latency, accuracy, reward)."""
    other = family.baseline.method if family.baseline is not None else "baseline"
    me = family.method
    head = [
        "target ms",
        f"{me} ms",
        f"{me} acc %",
        f"{me} reward",
        f"{other} ms",
        f"{other} acc %",
        f"{other} reward",
        "Δacc",
        f"{other}/{me} latency",
    ]
    rows = [
        [
            _fmt(r["target_ms"]),
            _fmt(r.get(f"{me}_latency_ms")),
            _fmt(r.get(f"{me}_accuracy"), 2),
            _fmt(r.get(f"{me}_reward")),
            _fmt(r.get(f"{other}_latency_ms")),
            _fmt(r.get(f"{other}_accuracy"), 2),
            _fmt(r.get(f"{other}_reward")),
            _fmt(r.get("accuracy_delta"), 2),
            _fmt(r.get("latency_ratio")),
        ]
        for r in family.comparison()
    ]
    return head, rows


def rich_table(title: str, head: list[str], rows: list[list[str]], max_arch: int = 60):
    """A table whose words never break: only the arch column folds (in a narrow terminal)."""
    from rich.table import Table

    table = Table(title=title)
    for h in head:
        if h == "arch":
            table.add_column(h, overflow="fold", max_width=max_arch, min_width=20)
        else:
            table.add_column(h, no_wrap=True)
    for r in rows:
        table.add_row(*r)
    return table


def reward_definition(target_ms: float | None, w: float | None) -> str:
    """``reward = accuracy × (latency / T ms)^w``: the one definition trials and members use."""
    if target_ms is None or w is None:
        return ""
    return f"reward = accuracy × (latency / {target_ms:g} ms)^{w:g}"


def markdown_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def print_tables(
    result: SearchResult | None, family: Family | None, reward: str = "", stream=None
) -> None:
    """The Pareto set and the family as tables; ``reward`` (:func:`reward_definition`) goes
    in their titles. A terminal gets tables as wide as it is; a pipe or a file gets them at
    their natural width, so no line is wrapped into broken words."""
    from rich.console import Console

    stream = stream if stream is not None else sys.stdout
    console = Console(file=stream)
    tables = []
    note = f"; {reward}" if reward else ""
    if result is not None:
        tables.append(rich_table(f"Pareto set (accuracy ↑, latency ↓){note}", *pareto_rows(result)))
    if family is not None:
        remeasured = "; member 0 is the best trial, its latency measured again" if result else ""
        tables.append(
            rich_table(
                f"Family {family.name}: (α, β, γ) = ({family.alpha}, {family.beta}, "
                f"{family.gamma}){note}{remeasured}",
                *family_rows(family),
            )
        )
        if family.baseline is not None:
            b = family.baseline
            tables.append(
                rich_table(
                    f"{family.method} vs {b.method} (α, β, γ) = ({b.alpha}, {b.beta}, {b.gamma}), "
                    f"φ from {b.settings.get('phi_from', 'latency')}",
                    *comparison_rows(family),
                )
            )
    for table in tables:
        if not console.is_terminal:  # as wide as the table wants (measured without a limit)
            console.width = 100_000
            console.width = max(console.measure(table).maximum, len(str(table.title)))
        title, table.title = table.title, None  # its own line: a title never wraps
        console.print(title, style="bold", highlight=False, markup=False)
        console.print(table)


def summary_markdown(
    recipe, result: SearchResult | None, family: Family | None, latency_note: str = ""
) -> str:
    parts = [f"# {recipe.name}", ""]
    if recipe.description:
        parts += [recipe.description.strip(), ""]
    parts += [
        f"- space: `{recipe.space.name}`, strategy: `{recipe.search.strategy}`, "
        f"reward: acc × (lat/{recipe.reward.target_ms} ms)^{recipe.reward.w}",
        f"- latency: {latency_note or recipe.latency.backend}",
        f"- accuracy: {recipe.accuracy.evaluator} {recipe.accuracy.options}",
        "",
    ]
    if result is not None:
        parts += _search_section(recipe, result)
    if family is not None:
        parts += _family_section(recipe, family, searched=result is not None)
    parts += _noisy_section(noisy_latencies(result, family))
    parts += _spike_section(result)
    return "\n".join(parts)


def _spike_section(result: SearchResult | None) -> list[str]:
    """A warning naming the Pareto trials whose proxy training's loss spiked."""
    spiked = [t for t in result.pareto() if t.metrics.get("proxy_unstable")] if result else []
    if not spiked:
        return []
    names = ", ".join(f"`{t.trial_id}`" for t in spiked[:6]) + (", ..." if len(spiked) > 6 else "")
    return [
        f"**{len(spiked)} {'accuracy' if len(spiked) == 1 else 'accuracies'} marked `†` "
        "from a proxy training whose loss spiked** "
        f"mid-schedule ({names}): such a run can end points below the same network trained "
        "again. `accuracy.options.retry_unstable: 1` trains it again on another seed.",
        "",
    ]


def _search_section(recipe, result: SearchResult) -> list[str]:
    """The summary's ``## Search`` lines: the Pareto table, budget, strategy, over-budget and
    failed trials."""
    front = result.pareto()
    parts = [
        f"## Search: {len(result.completed)} trials completed, {len(result.failed)} failed, "
        f"{result.wall_s:.0f} s",
        "",
        f"The Pareto set: {len(front)} of the {len(result.completed)} completed trials "
        "(each is the most accurate at its latency: no other trial is both more accurate "
        "and faster; every trial is in `search.json`).",
        "",
        markdown_table(*pareto_rows(result)),
        "",
    ]
    concluded = getattr(result, "summary", None) or {}
    parts += confirm.markdown(concluded.get("confirm"))
    spent = budget_markdown(concluded)
    if spent:
        parts += ["### Budget", "", spent, ""]
    strategy = strategy_markdown(concluded)
    if strategy:
        parts += [f"### What `{result.strategy or recipe.search.strategy}` concluded", ""]
        parts += [strategy, ""]
    over = [t for t in result.trials if t.status == "infeasible"]
    if over:
        parts += [f"Measured over the budget, not trained ({len(over)}):", ""]
        for t in over[:20]:
            parts.append(f"- `{t.trial_id}`: {t.metrics.get('infeasible', '')}")
        parts.append("")
    if result.failed:
        parts += ["Failed trials:", ""]
        for t in result.failed:
            last = (t.error or "").strip().splitlines()[-1:] or ["?"]
            parts.append(f"- `{t.trial_id}`: {last[0][:300]}")
        parts.append("")
    return parts


def _family_section(recipe, family: Family, searched: bool) -> list[str]:
    """The summary's ``## Family`` lines: members, the reward, and the baseline family."""
    parts = [
        f"## Family `{family.name}`: (α, β, γ) = ({family.alpha}, {family.beta}, {family.gamma}), "
        f"{family.settings.get('total_measurements', '?')} latency measurements, "
        f"{family.wall_s:.0f} s",
        "",
        markdown_table(*family_rows(family)),
        "",
        f"Reward, for trials and members alike: "
        f"{reward_definition(recipe.reward.target_ms, recipe.reward.w)}. Member 0 is "
        + (
            "the search's best trial, its latency measured again as the reference for the "
            "targets: its latency and reward differ from its search row by that "
            "measurement's noise."
            if searched
            else "the base model."
        ),
        "",
        "Members marked `!` missed the latency tolerance "
        f"({100 * family.settings.get('tolerance', 0):.0f} %): a rounding step "
        "(`plateau`) or the measurement budget (`budget`).",
        "",
    ]
    if family.baseline is not None:
        b = family.baseline
        parts += [
            f"### {family.method} vs {b.method} (α, β, γ) = ({b.alpha}, {b.beta}, "
            f"{b.gamma}), φ from {b.settings.get('phi_from', 'latency')}",
            "",
            markdown_table(*comparison_rows(family)),
            "",
        ]
    return parts


def _noisy_section(noisy: list[str]) -> list[str]:
    """A warning naming the latencies that looked busy (none: no lines)."""
    if not noisy:
        return []
    return [
        f"**{len(noisy)} latencies marked `~` looked busy** (a wide spread or a drift "
        "during the measurement, still there when it was measured again): "
        + "; ".join(noisy[:6])
        + ("; ..." if len(noisy) > 6 else "")
        + ". The device was probably shared with other work: measure these again on a "
        "quiet device (`accelsearch scale` or a new run) before trusting them.",
        "",
    ]


def noisy_latencies(result: SearchResult | None, family: Family | None) -> list[str]:
    """``name: why`` for every Pareto trial and family member whose latency looked busy."""
    out = []
    for t in result.pareto() if result is not None else []:
        if t.metrics.get("latency_noisy"):
            out.append(f"trial `{t.trial_id}`")
    for m in family.members if family is not None else []:
        if m.latency.get("noisy"):
            out.append(f"`{m.name}` ({m.latency.get('noisy_reason') or 'noisy'})")
    return out


def write_summary(path: str | Path, text: str) -> Path:
    path = Path(path)
    path.write_text(text)
    return path
