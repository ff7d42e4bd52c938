"""Reference data shipped inside the package: timm's published ImageNet results."""

from __future__ import annotations

import pytest

from accelsearch import data
from accelsearch.core.errors import ConfigError
from accelsearch.objectives.accuracy.table import TableAccuracy, TableEvaluator
from accelsearch.spaces.timm_zoo import timm_arch


def test_timm_results_ship_with_the_package():
    table = TableAccuracy.timm(data.timm_imagenet_results())
    assert len(table) > 1200  # arch.tag keys (a tag at several sizes counts once)
    # published figures (timm results/results-imagenet.csv)
    assert table.lookup("resnet50.a1_in1k") == pytest.approx(81.24)
    assert table.row("gernet_l.idstcv_in1k")["param_count"] == pytest.approx(31.08)


def test_table_evaluator_defaults_to_the_packaged_timm_table():
    ev = TableEvaluator("timm")
    assert ev.evaluate(timm_arch("efficientnet_b3.ra2_in1k", resolution=320)) == pytest.approx(
        82.296
    )


def test_unknown_packaged_file_names_the_ones_there():
    with pytest.raises(ConfigError, match="timm-results-imagenet.csv"):
        data.path("nope.csv")
