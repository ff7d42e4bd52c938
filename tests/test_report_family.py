"""Family tables, the comparison table and the accuracy-latency plot."""

from __future__ import annotations

import sys
from pathlib import Path

from accelsearch import report
from accelsearch.recipe import recipe_from_dict
from accelsearch.search.result import SearchResult, TrialRecord

sys.path.insert(0, str(Path(__file__).parent / "scaling"))
from lacs_synthetic import compared_family  # noqa: E402


def test_family_and_comparison_tables():
    family = compared_family()
    head, rows = report.family_rows(family)
    assert "intensity" not in " ".join(head) and "FLOP/B" not in head
    assert [r[0] for r in rows] == ["fam-0", "fam-1", "fam-2"]
    assert rows[0][head.index("solve")] == "base"
    family.members[1].intensity, family.members[1].utilisation = 12.5, 0.25
    head, rows = report.family_rows(family)
    assert (
        rows[1][head.index("FLOP/B")] == "12.5" and rows[1][head.index("utilisation %")] == "25.0"
    )
    head, rows = report.comparison_rows(family)
    assert head[1] == "lacs ms" and head[4] == "efficientnet ms"
    assert len(rows) == 2
    md = report.markdown_table(head, rows)
    assert md.count("\n") == 3


def test_plot_has_the_family_curve_the_baseline_and_the_pareto_set():
    family = compared_family()
    trials = [
        TrialRecord(f"t{i}", {}, "ok", metrics={"accuracy": a, "latency_ms": lat})
        for i, (a, lat) in enumerate([(50, 0.1), (55, 0.3), (52, 0.4)])
    ]
    fig = report.family_plot(family, SearchResult(trials=trials))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == [
        "search trials",
        "search Pareto set",
        "efficientnet (1.2, 1.1, 1.15)",
        "lacs fam",
    ]
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    xs = list(lines["lacs fam"].get_xdata())
    assert xs == [m.latency_ms for m in family.members]
    assert list(lines["search Pareto set"].get_xdata()) == [0.1, 0.3]


def test_summary_mentions_the_comparison():
    family = compared_family()
    recipe = recipe_from_dict(
        {"name": "fam", "space": {"name": "efficientnet_x"}, "reward": {"target_ms": 1.0}}
    )
    text = report.summary_markdown(recipe, None, family)
    assert "## Family `fam`" in text and "lacs vs efficientnet" in text
