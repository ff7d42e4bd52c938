"""Proxy training on real data: it learns, reports per epoch, and fails clearly."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from accelsearch import Arch, Head, Stage
from accelsearch.core.errors import ConfigError, EvaluationError
from accelsearch.objectives.accuracy import TrainEvaluator, get
from accelsearch.objectives.accuracy.data import load_dataset


def _small_cnn(res=16):
    return Arch(
        resolution=res,
        stem=Stage("conv", width=16, stride=1),
        stages=(
            Stage("conv", width=32, stride=2),
            Stage("mbconv", width=48, stride=2, expansion=2),
        ),
        head=Head(width=64),
    )


def test_bundled_digits_load_offline():
    d = load_dataset("digits")
    assert d.num_classes == 10 and d.in_chans == 1
    assert len(d.train_y) + len(d.val_y) == 1797
    assert d.train_x.dtype.is_floating_point is False


def test_training_learns_and_reports_every_epoch():
    ev = get("train", epochs=3, batch_size=64, lr=0.1, augment=(), seed=0)
    seen = []
    acc = ev.evaluate(_small_cnn(), report=lambda e, a: seen.append((e, a)))
    assert [e for e, _ in seen] == [1, 2, 3]
    assert acc == seen[-1][1]
    assert acc > 80.0  # chance is 10 %; measured 94 % (seed 0)


def test_training_is_deterministic_for_a_seed():
    a = TrainEvaluator(epochs=1, seed=3, augment=("crop",)).evaluate(_small_cnn())
    b = TrainEvaluator(epochs=1, seed=3, augment=("crop",)).evaluate(_small_cnn())
    assert a == b


def _write_folder(root, classes=("cat", "dog"), n=12, size=12):
    rng = np.random.default_rng(0)
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            img = np.full((size, size, 3), 40 + 150 * k, np.uint8) + rng.integers(
                0, 30, (size, size, 3), dtype=np.uint8
            )
            Image.fromarray(img).save(root / cls / f"{i}.png")


def test_image_folder_and_tarball(tmp_path):
    import tarfile

    _write_folder(tmp_path / "pets")
    d = load_dataset(tmp_path / "pets", val_fraction=0.25)
    assert d.classes == ["cat", "dog"] and d.in_chans == 3
    assert len(d.train_y) == 18 and len(d.val_y) == 6
    with tarfile.open(tmp_path / "pets.tar.gz", "w:gz") as tar:
        tar.add(tmp_path / "pets", arcname="pets")
    d2 = load_dataset(tmp_path / "pets.tar.gz", val_fraction=0.25)
    assert d2.classes == d.classes and len(d2.train_y) == 18
    acc = TrainEvaluator(
        dataset=str(tmp_path / "pets"), epochs=2, batch_size=8, val_fraction=0.25
    ).evaluate(_small_cnn(12))
    assert 0.0 <= acc <= 100.0


def test_bad_data_and_divergence_fail_clearly(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no images"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        TrainEvaluator(epochs=0)
    from accelsearch.core.builder import build_model

    with pytest.raises(EvaluationError, match="model has 5 outputs but dataset 'digits' has 10"):
        TrainEvaluator(epochs=1).evaluate(_small_cnn(), model=build_model(_small_cnn(), 5))
    with pytest.raises(EvaluationError, match="training diverged"):
        TrainEvaluator(epochs=1, lr=1e6, weight_decay=0, augment=()).evaluate(_small_cnn())
