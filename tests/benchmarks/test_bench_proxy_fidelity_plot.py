"""The proxy-fidelity figure: panels read from the benchmark's JSON, drawn to a PNG."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "proxy_fidelity_plot", ROOT / "benchmarks" / "proxy_fidelity_plot.py"
)
plot = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(plot)


def _model(family, top1, acc):
    m = {"family": family, "accuracy_mean": acc, "accuracy_spread": 0.1}
    if top1 is not None:
        m["imagenet_top1"] = top1
    return m


@pytest.fixture
def results(tmp_path):
    doc = {
        "options": {"p8": {"epochs": 8}},
        "variants": {
            "p8": {
                "kendall_tau": 0.2,
                "within_family_concordance": 0.5,
                "models": {
                    "resnet50": _model("resnet", 81.2, 79.7),
                    "resnet18": _model("resnet", 73.2, 82.2),
                    "gernet_s": _model("gernet", 76.9, 76.7),
                    "accelsearch:efficientnet-b0": _model("efficientnet", None, 80.5),
                },
            }
        },
    }
    path = tmp_path / "pf.json"
    path.write_text(json.dumps(doc))
    return path


def test_a_panel_holds_each_family_in_imagenet_order_without_unpublished_models(results):
    panel = plot.load_panel(f"{results}:p8")
    assert panel["title"] == "p8 (8 epochs)"
    assert (panel["tau"], panel["concordance"]) == (0.2, 0.5)
    assert [p[3] for p in panel["families"]["resnet"]] == ["resnet18", "resnet50"]
    assert set(panel["families"]) == {"resnet", "gernet"}  # the grown B0 has no ImageNet row


def test_a_missing_variant_names_the_ones_there(results):
    with pytest.raises(SystemExit, match=r"no variant 'p32' \(it has: p8\)"):
        plot.load_panel(f"{results}:p32")
    with pytest.raises(SystemExit, match="path.json:variant"):
        plot.load_panel(str(results).replace(".json", ""))


def test_the_figure_is_written(results, tmp_path):
    panel = plot.load_panel(f"{results}:p8")
    out = plot.draw([panel, panel], tmp_path / "fig" / "pf.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
