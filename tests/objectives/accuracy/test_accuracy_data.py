"""Data sources of proxy training: folders, archives, separate validation sets, torchvision."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import torch
from accuracy_helpers import make_tar, write_images

from accelsearch.core.errors import ConfigError
from accelsearch.objectives.accuracy.data import load_dataset


def test_digits_is_bundled_and_split():
    d = load_dataset("digits", val_fraction=0.25, seed=3)
    assert d.num_classes == 10 and d.in_chans == 1
    assert len(d.train_y) + len(d.val_y) == 1797
    assert abs(len(d.val_y) - 449) <= 1
    assert d.train_x.dtype == torch.uint8


def test_folder_without_split_is_split_by_fraction(tmp_path):
    write_images(tmp_path / "ds", {"a": 10, "b": 10})
    d = load_dataset(tmp_path / "ds", val_fraction=0.2)
    assert d.classes == ["a", "b"]
    assert (len(d.train_y), len(d.val_y)) == (16, 4)
    assert tuple(d.train_x.shape[1:]) == (3, 12, 12)
    # class-dependent colour survives decoding: class b is brighter
    means = [d.train_x[d.train_y == k].float().mean() for k in (0, 1)]
    assert means[1] > means[0] + 30


def test_folder_with_train_and_val(tmp_path):
    write_images(tmp_path / "ds" / "train", {"a": 6, "b": 6})
    write_images(tmp_path / "ds" / "val", {"a": 2, "b": 3}, seed=1)
    d = load_dataset(tmp_path / "ds")
    assert (len(d.train_y), len(d.val_y)) == (12, 5)
    assert sorted(d.val_y.tolist()) == [0, 0, 1, 1, 1]


def test_train_archive_with_separate_test_archive(cifar_like):
    train, test = cifar_like
    d = load_dataset(train, val=test)
    assert d.classes == ["cat", "dog", "ship"]
    assert (len(d.train_y), len(d.val_y)) == (36, 12)
    assert d.name == "train"
    # decoded once: the second load comes from the cache and is identical
    again = load_dataset(train, val=test)
    assert torch.equal(again.train_x, d.train_x) and torch.equal(again.val_y, d.val_y)


def test_separate_val_folder_with_fewer_classes_is_remapped(tmp_path):
    write_images(tmp_path / "tr", {"a": 4, "b": 4, "c": 4})
    write_images(tmp_path / "va", {"b": 2, "c": 1}, seed=2)
    d = load_dataset(tmp_path / "tr", val=tmp_path / "va")
    assert sorted(d.val_y.tolist()) == [1, 1, 2]


def test_class_mismatch_between_train_and_val_is_an_error(tmp_path):
    write_images(tmp_path / "tr", {"a": 4, "b": 4})
    write_images(tmp_path / "va", {"a": 2, "zebra": 2})
    with pytest.raises(ConfigError, match="zebra"):
        load_dataset(tmp_path / "tr", val=tmp_path / "va")


def test_empty_folder_is_an_error(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no images"):
        load_dataset(tmp_path / "empty")


def test_one_class_is_an_error(tmp_path):
    write_images(tmp_path / "one", {"only": 5})
    with pytest.raises(ConfigError, match="only one class"):
        load_dataset(tmp_path / "one")


def test_missing_path_names_the_accepted_forms(tmp_path):
    with pytest.raises(ConfigError, match="digits"):
        load_dataset(tmp_path / "nope")


def test_unreadable_archive_is_an_error(tmp_path):
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"this is not gzip")
    with pytest.raises(ConfigError, match="cannot be read"):
        load_dataset(bad)


def test_corrupt_image_names_the_file(tmp_path):
    write_images(tmp_path / "ds", {"a": 3, "b": 3})
    (tmp_path / "ds" / "b" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ConfigError, match="broken.png"):
        load_dataset(tmp_path / "ds")


def test_mixed_image_sizes_are_resized_to_the_common_one(tmp_path):
    write_images(tmp_path / "ds", {"a": 4, "b": 4}, size=(10, 10))
    write_images(tmp_path / "odd" / "a", {"x": 1}, size=(7, 9))
    (tmp_path / "odd" / "a" / "x" / "0000.png").rename(tmp_path / "ds" / "a" / "zz.png")
    d = load_dataset(tmp_path / "ds", val_fraction=0.2)
    assert tuple(d.train_x.shape[-2:]) == (10, 10)
    assert len(d.train_y) + len(d.val_y) == 9


def test_archive_with_a_top_folder(tmp_path):
    write_images(tmp_path / "src" / "mydata" / "train", {"a": 4, "b": 4})
    write_images(tmp_path / "src" / "mydata" / "test", {"a": 1, "b": 1})
    tar = make_tar(tmp_path / "src" / "mydata", tmp_path / "mydata.tgz", "mydata")
    d = load_dataset(tar)
    assert (len(d.train_y), len(d.val_y)) == (8, 2)


def _idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(
        struct.pack(">I", s) for s in array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def test_torchvision_dataset_from_a_root(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    _idx(raw / "train-images-idx3-ubyte", rng.integers(0, 255, (20, 6, 6)))
    _idx(raw / "train-labels-idx1-ubyte", np.arange(20) % 10)
    _idx(raw / "t10k-images-idx3-ubyte", rng.integers(0, 255, (5, 6, 6)))
    _idx(raw / "t10k-labels-idx1-ubyte", np.arange(5))
    d = load_dataset("torchvision:MNIST", root=tmp_path)
    assert (len(d.train_y), len(d.val_y)) == (20, 5)
    assert tuple(d.train_x.shape[1:]) == (1, 6, 6) and d.num_classes == 10


def test_torchvision_needs_a_root_and_a_known_name(tmp_path):
    with pytest.raises(ConfigError, match="root"):
        load_dataset("torchvision:MNIST")
    with pytest.raises(ConfigError, match="no dataset"):
        load_dataset("torchvision:NoSuchSet", root=tmp_path)
    with pytest.raises(ConfigError, match="never downloads"):
        load_dataset("torchvision:MNIST", root=tmp_path)
