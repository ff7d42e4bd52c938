"""Shared fixtures: a tiny EfficientNet-X space and an isolated cache/lock folder."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep dataset caches and measurement locks of the test run out of the user's home."""
    root = tmp_path_factory.mktemp("accelsearch-cache")
    os.environ.setdefault("ACCELSEARCH_CACHE", str(root))
    os.environ.setdefault("ACCELSEARCH_LOCK_DIR", str(root))
    yield


@pytest.fixture
def tiny_space():
    from accelsearch import spaces

    return spaces.get("efficientnet_x", width_mult=0.25, resolutions=(32,), depth_deltas=(-1, 0))
