"""What a user sees of the baselines: the plot, the ``summary.md`` section, the MLflow runs.

* ``family_vs_baselines.png``: accuracy against latency (log scale): the family's curve,
  the search's Pareto set and each line of baselines as its own line.
* The summary section: one row per baseline (its published ImageNet top-1 beside its proxy
  accuracy, the accuracy gain at equal latency and the speed-up at equal accuracy) and one
  sentence per line. It sits between markers, so ``accelsearch compare`` replaces it.
* MLflow: one child run of the family run per baseline, tagged ``accelsearch.kind =
  baseline`` with the members' metric names (``accuracy``, ``latency_ms``, ``params_m``,
  ``gflops``, ``utilisation``, ...), so the UI charts them beside the members.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from accelsearch import mlflow_schema as schema
from accelsearch.baselines_curve import ABOVE, BELOW, FASTER, SLOWER
from accelsearch.baselines_measure import METRICS
from accelsearch.core.arch import Arch
from accelsearch.report import markdown_table
from accelsearch.tracking import Tracker

PLOT_FILE = "family_vs_baselines.png"
SECTION_START = "<!-- accelsearch baselines: start -->"
SECTION_END = "<!-- accelsearch baselines: end -->"
_COLOURS = ("tab:green", "tab:purple", "tab:orange", "tab:brown", "tab:pink", "tab:olive")


# -- plot -----------------------------------------------------------------------------------
def comparison_plot(family, result, entries: list[dict[str, Any]], latency_note: str = ""):
    """Accuracy against latency (log x): family curve, search Pareto set, baseline lines."""
    import matplotlib  # heavy optional import: only when a plot is drawn

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, ax = plt.subplots(figsize=(8, 5))
    if result is not None and result.completed:
        front = [(t.metrics["latency_ms"], t.metrics["accuracy"]) for t in result.pareto()]
        ax.plot(*zip(*front), "o--", c="tab:blue", ms=4, alpha=0.7, label="search Pareto set")
    fam = [(m.latency_ms, m.accuracy) for m in family.members if m.accuracy is not None]
    if fam:
        ax.plot(*zip(*sorted(fam)), "s-", c="tab:red", lw=2, label=f"found family {family.name}")
        for m in family.members:
            if m.accuracy is not None:
                ax.annotate(
                    m.name.rsplit("-", 1)[-1],
                    (m.latency_ms, m.accuracy),
                    fontsize=8,
                    textcoords="offset points",
                    xytext=(4, -10),
                    c="tab:red",
                )
    for k, (line, rows) in enumerate(_by_line(entries).items()):
        pts = sorted((e["latency_ms"], e["accuracy"], e["model"]) for e in rows)
        colour = _COLOURS[k % len(_COLOURS)]
        ax.plot([p[0] for p in pts], [p[1] for p in pts], "^--", c=colour, label=line)
        for lat, acc, model in pts:
            ax.annotate(
                model, (lat, acc), fontsize=7, textcoords="offset points", xytext=(4, 4), c=colour
            )
    ax.set_xscale("log")
    plain = FuncFormatter(lambda v, _: f"{v:g}")  # 2, 5, 10 ms rather than 2×10⁰
    ax.xaxis.set_major_formatter(plain)
    ax.xaxis.set_minor_formatter(plain)
    ax.tick_params(axis="x", which="minor", labelsize=7)
    ax.set_xlabel("latency (ms, log scale)" + (f": {latency_note}" if latency_note else ""))
    ax.set_ylabel("proxy accuracy (%)")
    ax.set_title(f"{family.name}: found family beside published models, measured alike")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _by_line(entries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for e in entries:
        if e.get("status") == "ok" and "accuracy" in e and "latency_ms" in e:
            out.setdefault(e["line"], []).append(e)
    return out


# -- summary.md -------------------------------------------------------------------------------
def baselines_rows(entries, points) -> tuple[list[str], list[list[str]]]:
    by_model = {p["model"]: p for p in points}
    head = [
        "line",
        "model",
        "px timed",
        "px trained",
        "latency ms",
        "proxy acc %",
        "ImageNet top-1 %",
        "params M",
        "GFLOPs",
        "util %",
        "family Δacc at equal latency",
        "family speed-up at equal acc",
    ]
    rows = []
    for e in entries:
        if e.get("status") != "ok":
            continue
        p = by_model.get(e["model"], {})
        top1 = e.get("imagenet", {}).get("top1")
        util = e.get("utilisation")
        rows.append(
            [
                e["line"],
                e["model"],
                str(e["resolution"]),
                str(e.get("train_resolution") or "-"),
                _f(e.get("latency_ms"), 3),
                _f(e.get("accuracy"), 2),
                _f(top1, 2),
                _f(e.get("params_m"), 2),
                _f(e.get("gflops"), 3),
                _f(None if util is None else 100 * util, 1),
                _gain_cell(p),
                _speedup_cell(p),
            ]
        )
    return head, rows


def _gain_cell(p: dict[str, Any]) -> str:
    if p.get("accuracy_gain") is not None:
        return f"{p['accuracy_gain']:+.2f}"
    return {FASTER: "- (faster than family)", SLOWER: "- (slower than family)"}.get(
        p.get("latency_position", ""), "-"
    )


def _speedup_cell(p: dict[str, Any]) -> str:
    if p.get("speedup") is not None:
        return f"{p['speedup']:.2f}x"
    if p.get("accuracy_position") == BELOW and p.get("speedup_at_least") is not None:
        return f">= {p['speedup_at_least']:.2f}x (bound)"
    if p.get("accuracy_position") == ABOVE:
        return "- (above family)"
    return "-"


def _f(v, digits: int) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def baselines_markdown(doc: dict[str, Any], entries: list[dict[str, Any]]) -> str:
    """The ``summary.md`` section (between markers) for the current comparison."""
    cmp = doc.get("comparison", {})
    lines = [SECTION_START, "## Baselines beside the family", ""]
    lines += [f"- {n}" for n in cmp.get("conditions", [])] + [""]
    lines += [markdown_table(*baselines_rows(entries, cmp.get("points", []))), ""]
    if cmp.get("lines"):
        lines += [
            "Per line of baselines (interpolated on the family's curve, piecewise-linear "
            "in log latency):",
            "",
        ]
        lines += [f"- {s['statement']}" for s in cmp["lines"]] + [""]
    failed = [e for e in entries if e.get("status") != "ok"]
    if failed:
        lines += [
            "Baselines that failed (kept in baselines.json; `accelsearch compare "
            "--retry-failed` measures them again):",
            "",
        ]
        lines += [f"- `{e['model']}`: {e.get('error', '?')[:300]}" for e in failed] + [""]
    lines += [f"![found family beside the baselines]({PLOT_FILE})", "", SECTION_END]
    return "\n".join(lines)


def put_section(summary_path: Path, section: str) -> None:
    """Write ``section`` into ``summary.md``, replacing an earlier baselines section."""
    text = summary_path.read_text() if summary_path.exists() else ""
    pattern = re.compile(re.escape(SECTION_START) + r".*?" + re.escape(SECTION_END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + ("\n\n" if text else "") + section
    summary_path.write_text(text.rstrip("\n") + "\n")


# -- MLflow ---------------------------------------------------------------------------------
def log_baseline_runs(
    tracker: Tracker, family_run_id: str, family_name: str, entries: list[dict[str, Any]]
) -> int:
    """One ``baseline`` child run of the family run per entry not logged there yet; returns
    how many runs were created. An entry remembers its run (``mlflow_run_id``,
    ``mlflow_parent``); a run logged by a piece that was killed before the entry was saved
    is found by its tags, so it is not logged twice."""
    created = 0
    for e in entries:
        if e.get("mlflow_parent") == family_run_id and e.get("mlflow_run_id"):
            continue
        run_id = _logged_before(tracker, family_run_id, e)
        if run_id is None:
            run_id = _log_one(tracker, family_run_id, family_name, e)
            created += 1
        e["mlflow_run_id"], e["mlflow_parent"] = run_id, family_run_id
    return created


def log_comparison(tracker: Tracker, family_run_id: str, doc: dict[str, Any], run_dir: Path):
    """``baselines.json``, the plot and per-line figures on the family run."""
    for name in ("baselines.json", PLOT_FILE):
        if (run_dir / name).exists():
            tracker.log_file(family_run_id, run_dir / name)
    tracker.log_metrics(family_run_id, _line_metrics(doc))


def _log_one(tracker: Tracker, parent: str, family_name: str, e: dict[str, Any]) -> str:
    imagenet = e.get("imagenet", {})
    run = tracker.start_run(
        "baseline",
        e["model"],
        parent_id=parent,
        tags=schema.baseline_tags(family_name, e),
        params={
            "model": e["model"],
            "resolution": e["resolution"],
            "train_resolution": e.get("train_resolution"),
            "resolution_rule": e.get("resolution_rule"),
            "imagenet_table_model": imagenet.get("table_model"),
        },
    )
    metrics = {k: e.get(k) for k in METRICS}
    metrics["imagenet_top1"] = imagenet.get("top1")
    tracker.log_metrics(run, metrics)
    tracker.log_text(run, Arch.from_string(e["arch"]).to_json(), "arch.json")
    if e.get("status") != "ok":
        tracker.log_text(run, e.get("traceback") or e.get("error", ""), "error.txt")
    tracker.end_run(run, "FINISHED" if e.get("status") == "ok" else "FAILED")
    return run


def _logged_before(tracker: Tracker, parent: str, e: dict[str, Any]) -> str | None:
    runs = tracker.client.search_runs(
        [tracker.experiment_id],
        filter_string=schema.baseline_filter(parent, e["model"], e["fingerprint"]),
        max_results=10,
    )
    for r in runs:
        if r.data.params.get("resolution") == str(e["resolution"]):
            return r.info.run_id
    return None


def _line_metrics(doc: dict[str, Any]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for s in doc.get("comparison", {}).get("lines", []):
        slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", s["line"]).strip("_")
        out[f"baseline_speedup.{slug}"] = s.get("speedup_geomean")
        out[f"baseline_accuracy_gain.{slug}"] = s.get("accuracy_gain_mean")
    return out
