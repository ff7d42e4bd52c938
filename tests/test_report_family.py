"""Family tables and the comparison table (the plot: tests/test_plots.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from accelsearch import report
from accelsearch.recipe import recipe_from_dict

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


def test_summary_mentions_the_comparison():
    family = compared_family()
    recipe = recipe_from_dict(
        {"name": "fam", "space": {"name": "efficientnet_x"}, "reward": {"target_ms": 1.0}}
    )
    text = report.summary_markdown(recipe, None, family)
    assert "## Family `fam`" in text and "lacs vs efficientnet" in text
