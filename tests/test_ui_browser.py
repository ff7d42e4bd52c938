"""The MLflow UI in a real browser: ``benchmarks/ui_screenshots.py`` opens two real families
in headless Chromium (Debian's, driven by Playwright) through ``accelsearch ui`` and saves
screenshots of the family run, its plot, the member table, the member charts, the
comparison of both families' members, and the members view and chart whose URLs
``accelsearch ui`` printed (opened as printed); each page must show what it is about."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from mlflow_kit import ROOT, family_workspace

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; .ci/run does)")
    pytest.importorskip("playwright", reason="playwright is in the test extra")
    out = tmp_path_factory.mktemp("ui")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "ui_screenshots.py")]
        + ["--workspace", str(family_workspace()), "--out", str(out), "--chromium", CHROMIUM],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    record = json.loads((out / "ui_screenshots.json").read_text())
    return proc, record, out


def test_every_page_shows_what_it_is_about(shots):
    proc, record, out = shots
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert record["families"] and len(record["families"]) == 2
    assert record["members"] == 4  # base + one target, two families
    names = {p["name"]: p for p in record["pages"]}
    assert set(names) == {
        "family_run",
        "family_plot",
        "members_table",
        "members_charts",
        "compare_members",
        "members_view",
        "members_view_chart",
    }
    for page in record["pages"]:
        assert page["ok"], page
    assert "tiny-b-family" in names["members_table"]["found"]
    assert "tiny-a-family" in names["members_table"]["found"]
    assert {"tiny-a-0", "tiny-a-1", "tiny-b-0", "tiny-b-1"} <= set(
        names["compare_members"]["found"]
    )
    # the URL `accelsearch ui` printed, opened as printed: the newest family's members with
    # the accuracy, latency_ms, reward and target_ms columns, and their chart
    assert record["printed_views"]["family"] == "tiny-b-family"
    view = names["members_view"]
    assert view["url"] == record["printed_views"]["members"] and "viewStateShareKey=" in view["url"]
    assert {"tiny-b-0", "tiny-b-1", "accuracy", "latency_ms", "reward", "target_ms"} <= set(
        view["found"]
    )
    assert view["ok"]  # and tiny-a's members are absent (the page's "absent" check)
    assert names["members_view_chart"]["url"] == record["printed_views"]["chart"]


def test_screenshots_are_real_pictures(shots):
    from PIL import Image, ImageStat

    _, record, out = shots
    for page in record["pages"]:
        with Image.open(out / page["file"]) as im:
            assert im.size == (1600, 1000)
            spread = ImageStat.Stat(im.convert("L")).stddev[0]
            assert spread > 10, f"{page['file']} looks blank (grey-level spread {spread:.1f})"
