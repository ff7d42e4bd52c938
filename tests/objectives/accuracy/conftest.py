"""Fixtures for the accuracy tests (helpers live in ``accuracy_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from accuracy_helpers import make_tar, tiny_arch, write_images

from accelsearch.core.arch import Arch


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test decodes into its own cache folder."""
    monkeypatch.setenv("ACCELSEARCH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(autouse=True)
def _one_thread():
    """One CPU thread: on a shared 2-core machine more threads make each op far slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def arch() -> Arch:
    return tiny_arch()


@pytest.fixture
def cifar_like(tmp_path) -> tuple[Path, Path]:
    """Two archives shaped like the CIFAR-10 JPEG copy: ``train/<class>/...`` and
    ``test/<class>/...``, 3 classes."""
    classes = {"cat": 12, "dog": 12, "ship": 12}
    write_images(tmp_path / "src" / "train", classes, ext=".jpg")
    write_images(tmp_path / "src" / "test", {c: 4 for c in classes}, seed=1, ext=".jpg")
    train = make_tar(tmp_path / "src" / "train", tmp_path / "train.tar.gz", "train")
    test = make_tar(tmp_path / "src" / "test", tmp_path / "test.tar.gz", "test")
    return train, test
