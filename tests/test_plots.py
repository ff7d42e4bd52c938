"""``family.png``: a log latency axis kept to the family's range, an outlier marked at its
edge, the latency targets drawn, members labelled with their error against their target."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from accelsearch import plots
from accelsearch.search.result import SearchResult, TrialRecord

sys.path.insert(0, str(Path(__file__).parent / "scaling"))
from lacs_synthetic import compared_family  # noqa: E402


@pytest.fixture(scope="module")
def family():
    return compared_family()


def _trials(*points):
    return SearchResult(
        trials=[
            TrialRecord(f"t{i}", {}, "ok", metrics={"accuracy": a, "latency_ms": lat})
            for i, (a, lat) in enumerate(points)
        ]
    )


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def test_plot_has_the_family_curve_the_baseline_targets_and_the_pareto_set(family):
    lo = family.members[0].latency_ms
    fig = plots.family_plot(family, _trials((50, lo * 0.8), (55, lo * 1.1), (52, lo * 1.3)))
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == [
        "search trials",
        "search Pareto set",
        "efficientnet (1.2, 1.1, 1.15)",
        "latency targets",
        "lacs fam",
    ]
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["lacs fam"].get_xdata()) == [m.latency_ms for m in family.members]
    assert list(lines["search Pareto set"].get_xdata()) == [lo * 0.8, lo * 1.1]
    targets = sorted(line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":")
    assert targets == pytest.approx(sorted(m.target_ms for m in family.members[1:]))
    texts = _texts(ax)
    assert "base" in texts
    for k, m in enumerate(family.members[1:], start=1):
        assert any(t.startswith(f"{k}: {100 * m.latency_error:+.1f} %") for t in texts), texts
    assert ax.get_xscale() == "log"


def test_one_slow_outlier_does_not_squash_the_family(family):
    fams = [m.latency_ms for m in family.members]
    outlier = 400 * max(fams)  # e.g. ~1,190 ms measured while the machine was busy
    fig = plots.family_plot(family, _trials((50, fams[0]), (70, outlier)))
    ax = fig.axes[0]
    lo, hi = ax.get_xlim()
    assert lo < min(fams) and max(fams) < hi < 2 * max(m.target_ms for m in family.members)
    assert any(t.endswith(" ms") and f"{outlier:.4g}" in t for t in _texts(ax))  # marked
    assert "1 trial(s) off the axis" in ax.get_xlabel()
    # the family spans a fair share of the axis (on a log scale), not a sliver at one edge
    import math

    share = math.log(max(fams) / min(fams)) / math.log(hi / lo)
    assert share > 0.3, share


def test_without_a_search_the_family_alone(family):
    ax = plots.family_plot(family, None).axes[0]
    assert "lacs fam" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "off the axis" not in ax.get_xlabel()
