"""Cutting a proxy subset out of an ImageFolder dataset, read back by the accuracy data loader."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from accelsearch.objectives.accuracy.data import load_dataset

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location(
    "make_proxy_subset", ROOT / "benchmarks" / "make_proxy_subset.py"
)
subset = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(subset)


def _folder(root: Path, classes: int, per_class: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for c in range(classes):
        d = root / f"n{c:03d}"
        d.mkdir(parents=True)
        for i in range(per_class):
            w, h = rng.integers(40, 90, size=2)  # mixed sizes and aspect ratios
            pixels = rng.integers(0, 255, size=(h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(d / f"img{i}.png")
    return root


@pytest.fixture
def imagenet_like(tmp_path):
    _folder(tmp_path / "src" / "train", classes=6, per_class=5)
    _folder(tmp_path / "src" / "val", classes=6, per_class=3, seed=1)
    return tmp_path / "src"


def test_subset_is_square_seeded_and_loads_as_a_dataset(imagenet_like, tmp_path):
    out = tmp_path / "sub"
    argv = [str(imagenet_like), "--out", str(out), "--classes", "3", "--size", "32",
            "--train-per-class", "4", "--val-per-class", "2"]  # fmt: skip
    assert subset.main(argv) == 0
    data = load_dataset(f"{out}-train.tar.gz", val=f"{out}-val.tar.gz")
    assert data.num_classes == 3 and data.image_size == (32, 32)
    assert (len(data.train_y), len(data.val_y)) == (12, 6)
    with tarfile.open(f"{out}-train.tar.gz") as tar:
        first = sorted(tar.getnames())
    assert subset.main([*argv[:2], str(tmp_path / "again"), *argv[3:]]) == 0
    with tarfile.open(tmp_path / "again-train.tar.gz") as tar:
        assert sorted(tar.getnames()) == first  # same seed, same classes and images


def test_one_folder_is_split_and_too_few_classes_is_an_error(tmp_path):
    src = _folder(tmp_path / "flat", classes=3, per_class=5)
    train, val = subset.pick(src, classes=2, n_train=10, n_val=2, seed=3)
    assert (len(train), len(val)) == (6, 4)
    assert not {p for _, p in train} & {p for _, p in val}
    with pytest.raises(SystemExit, match="--classes 4: .* has 3 usable classes"):
        subset.pick(src, classes=4, n_train=1, n_val=1, seed=0)


def test_over_the_size_cap_fails_and_names_the_knobs(imagenet_like, tmp_path, capsys):
    argv = [str(imagenet_like), "--out", str(tmp_path / "big"), "--classes", "2",
            "--train-per-class", "2", "--val-per-class", "1", "--max-mib", "0"]  # fmt: skip
    assert subset.main(argv) == 2
    assert "over --max-mib 0.0; lower --train-per-class" in capsys.readouterr().err
