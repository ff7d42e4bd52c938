"""``accelsearch survey`` on the CPU with tiny timm models and a quirky accuracy CSV."""

from __future__ import annotations

import csv
import json

import pytest

from accelsearch.cli import main
from accelsearch.commands.survey import match_accuracy, pareto_mask, read_accuracy_csv

ACCURACY = """model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation
resnet10t.c3_in1k,224,68.3,31.7,88.1,11.9,5.44,0.95,bicubic
resnet10t.c3_in1k,176,66.3,33.7,86.9,13.1,5.44,0.875,bicubic
lcnet_050.ra2_in1k,224,63.1,36.9,84.4,15.6,1.88,0.875,bicubic
big_model.giant_in1k,560,89.8,10.2,99.0,1.0,"1,014.45",1.0,bicubic
"""


@pytest.fixture
def accuracy_csv(tmp_path):
    path = tmp_path / "results-imagenet.csv"
    path.write_text(ACCURACY)
    return path


def test_accuracy_csv_quirks(accuracy_csv):
    rows = read_accuracy_csv(accuracy_csv)
    assert rows["big_model"][0].param_count == pytest.approx(1014.45)
    assert match_accuracy(rows, "resnet10t", "c3_in1k", 176).top1 == 66.3
    assert match_accuracy(rows, "resnet10t", "c3_in1k", None).img_size == 176
    assert match_accuracy(rows, "resnet10t", "other_tag", 224).top1 == 68.3
    assert match_accuracy(rows, "nothing", None, 224) is None


def test_pareto_mask():
    x = [1.0, 2.0, 3.0, 2.0, None]
    y = [3.0, 2.0, 1.0, 1.0, 9.0]
    assert pareto_mask(x, y) == [True, True, True, False, False]


def test_survey_writes_csv_json_and_plots(tmp_path, monkeypatch, accuracy_csv, capsys):
    monkeypatch.setenv("ACCELSEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ACCELSEARCH_LOCK_DIR", str(tmp_path))
    out = tmp_path / "survey"
    code = main(
        [
            "survey",
            "--models", "resnet10t,lcnet_050,not_a_model",
            "--batch-sizes", "1,2",
            "--device", "cpu",
            "--threads", "1",
            "--resolution", "32",
            "--max-seconds", "0.3",
            "--accuracy-csv", str(accuracy_csv),
            "--out", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    rows = list(csv.DictReader(open(out / "survey.csv")))
    assert len(rows) == 6
    good = [r for r in rows if not r["error"]]
    assert {r["model"] for r in good} == {"resnet10t", "lcnet_050"}
    assert all("unknown timm model" in r["error"] for r in rows if r["model"] == "not_a_model")
    for r in good:
        assert float(r["latency_ms"]) > 0 and float(r["throughput"]) > 0
        assert float(r["params_m"]) > 0 and float(r["gflops"]) > 0
        assert 0 < float(r["utilisation"]) and float(r["intensity"]) > 0
        assert r["top1"] and r["accuracy_model"].endswith("_in1k")
        for col in ("throughput_accuracy", "utilisation_accuracy", "throughput_utilisation"):
            assert r[f"pareto_{col}"] in ("0", "1")
        assert float(r["throughput"]) == pytest.approx(
            int(r["batch_size"]) / float(r["latency_ms"]) * 1000, rel=1e-3
        )
    for b in ("1", "2"):  # within a batch size, the most accurate model is on the front
        group = [r for r in good if r["batch_size"] == b]
        best = max(group, key=lambda r: float(r["top1"]))
        assert best["pareto_throughput_accuracy"] == "1"
    meta = json.loads((out / "survey.json").read_text())
    assert meta["backend"] == "torch" and meta["peaks"]["source"] == "calibrated"
    assert (out / "throughput_vs_utilisation.png").stat().st_size > 1000
    assert (out / "roofline.png").stat().st_size > 1000
    assert "resnet10t" in capsys.readouterr().out


def test_survey_bad_arguments(tmp_path, capsys):
    assert (
        main(["survey", "--models", "resnet10t", "--batch-sizes", "x", "--out", str(tmp_path)]) == 2
    )
    assert "--batch-sizes" in capsys.readouterr().err
    code = main(["survey", "--models", "r", "--accuracy-csv", "/nope.csv", "--out", str(tmp_path)])
    assert code == 2
