"""Accuracy tables: NAS-Bench-201 and timm's results CSV, with small fixtures that mimic
their quirks (the real files are used too when present)."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.errors import ConfigError, UnknownNameError
from accelsearch.objectives.accuracy.table import TableAccuracy, TableEvaluator, parse_number

CELL_A = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
CELL_B = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
NB201_CSV = f"""CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString,UniqueString
93.66,70.29,44.03,{CELL_A},x
85.86,52.91,26.63,{CELL_B},y
"""
TIMM_CSV = """model,img_size,top1,top1_err,top5,top5_err,param_count,crop_pct,interpolation
eva_giant_patch14_560.m30m_ft_in22k_in1k,560,89.790,10.210,98.990,1.010,"1,014.45",1.000,bicubic
convnext_atto.d2_in1k,288,77.016,22.984,93.704,6.296,3.70,0.950,bicubic
resnet50.a1_in1k,288,81.2,18.8,95.1,4.9,25.56,1.0,bicubic
resnet50.tv_in1k,224,76.1,23.9,92.9,7.1,25.56,0.875,bilinear
convnext_atto.d2_in1k,224,75.672,24.328,92.914,7.086,3.70,0.875,bicubic
"""
SHARED = Path(__file__).resolve().parents[4] / "shared" / "data"


@pytest.fixture
def nb201_csv(tmp_path) -> Path:
    p = tmp_path / "nb201.csv"
    p.write_text(NB201_CSV)
    return p


@pytest.fixture
def timm_csv(tmp_path) -> Path:
    p = tmp_path / "results-imagenet.csv"
    p.write_text(TIMM_CSV)
    return p


@pytest.mark.parametrize(
    "dataset, expected", [("cifar10", 93.66), ("cifar100", 70.29), ("ImageNet16-120", 44.03)]
)
def test_nb201_columns_per_dataset(nb201_csv, dataset, expected):
    t = TableAccuracy.nb201(nb201_csv, dataset=dataset)
    assert t.lookup(CELL_A) == pytest.approx(expected)
    assert t[" " + CELL_B + " "] < t[CELL_A]  # keys are stripped
    assert len(t) == 2 and CELL_A in t


def test_nb201_unknown_key_and_dataset(nb201_csv):
    t = TableAccuracy.nb201(nb201_csv)
    with pytest.raises(KeyError, match="not in"):
        t.lookup(CELL_A.replace("avg_pool_3x3~1", "none~1"))
    with pytest.raises(ConfigError, match="cifar100"):
        TableAccuracy.nb201(nb201_csv, dataset="svhn")


def test_timm_full_bare_ambiguous_and_quoted_thousands(timm_csv):
    t = TableAccuracy.timm(timm_csv)
    assert t.lookup("convnext_atto.d2_in1k") == pytest.approx(77.016)  # best of two sizes
    assert t.lookup("convnext_atto") == pytest.approx(77.016)  # bare name, one tag
    assert t.row("eva_giant_patch14_560")["param_count"] == pytest.approx(1014.45)
    with pytest.raises(KeyError, match="ambiguous"):
        t.lookup("resnet50")
    assert t.lookup("resnet50.tv_in1k") == pytest.approx(76.1)
    with pytest.raises(KeyError, match="close matches"):
        t.lookup("resnet5O.tv_in1k")
    at224 = TableAccuracy.timm(timm_csv, img_size=224)
    assert at224.lookup("convnext_atto") == pytest.approx(75.672)
    assert TableAccuracy.timm(timm_csv, metric="top5").lookup("resnet50.a1_in1k") == 95.1


def test_unknown_key_is_never_zero(timm_csv):
    t = TableAccuracy.timm(timm_csv)
    with pytest.raises(UnknownNameError):
        t.lookup("")
    assert "nothing" not in t


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        TableAccuracy.nb201(tmp_path / "missing.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("a,b\n1,2\n")
    with pytest.raises(ConfigError, match="missing"):
        TableAccuracy.nb201(wrong)
    dup = tmp_path / "dup.csv"
    dup.write_text(NB201_CSV + NB201_CSV.splitlines()[1] + "\n")
    with pytest.raises(ConfigError, match="twice"):
        TableAccuracy.nb201(dup)
    bad = tmp_path / "bad.csv"
    bad.write_text(NB201_CSV.replace("93.66", "n/a"))
    with pytest.raises(ConfigError, match="not a number"):
        TableAccuracy.nb201(bad)


def test_parse_number():
    assert parse_number("1,014.45") == 1014.45
    assert parse_number(" 3.5 ") == 3.5


def _timm_arch(name: str) -> Arch:
    return Arch(resolution=224, stages=(Stage("timm", 512, ops=(name,)),), head=Head(0))


def test_table_evaluator_with_timm_archs(timm_csv):
    ev = TableEvaluator("timm", str(timm_csv))
    seen = []
    assert ev.evaluate(_timm_arch("convnext_atto"), lambda e, a: seen.append(e)) == pytest.approx(
        77.016
    )
    assert seen == [1]
    with pytest.raises(KeyError):
        ev.evaluate(_timm_arch("no_such_model"))
    with pytest.raises(ConfigError, match="timm"):
        ev.evaluate(Arch(resolution=32, stages=(Stage("conv", 8),)))


def test_table_evaluator_with_a_key_function(nb201_csv):
    ev = TableEvaluator("nb201", str(nb201_csv), key=lambda arch: CELL_B)
    assert ev.evaluate(Arch(resolution=32, stages=(Stage("conv", 8),))) == pytest.approx(85.86)


def test_table_evaluator_options_are_checked(tmp_path):
    with pytest.raises(ConfigError, match="csv"):
        TableEvaluator("nb201")
    with pytest.raises(ConfigError, match="does not exist"):
        TableEvaluator("nb201", str(tmp_path / "x.csv"))
    with pytest.raises(ConfigError, match="'nb201', 'timm'"):
        TableEvaluator("imagenet", str(tmp_path / "x.csv"))


def test_table_evaluator_on_nb201_archs(nb201_csv):
    from accelsearch import spaces

    if "nb201" not in spaces.list():
        pytest.skip("the nb201 space is not in this checkout yet")
    space = spaces.get("nb201")
    ev = TableEvaluator("nb201", str(nb201_csv), dataset="cifar100")
    assert ev.evaluate(space.from_string(CELL_A)) == pytest.approx(70.29)


@pytest.mark.skipif(not (SHARED / "nb201").is_dir(), reason="no ../shared/data here (CI)")
def test_real_files_when_present():
    nb = TableAccuracy.nb201(SHARED / "nb201" / "nats_bench_tss.csv")
    assert len(nb) == 15625
    assert nb.lookup(CELL_A) == pytest.approx(93.66, abs=0.01)
    tm = TableAccuracy.timm(SHARED / "timm" / "results-imagenet.csv")
    assert tm.lookup("gernet_s") > 75
    assert tm.row("eva_giant_patch14_560.m30m_ft_in22k_in1k")["param_count"] > 1000
