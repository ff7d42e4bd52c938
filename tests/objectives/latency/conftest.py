"""Shared fixtures: every test gets its own cache and lock folders, and small archs."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_caches(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELSEARCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("ACCELSEARCH_LATENCY_CACHE", raising=False)
    monkeypatch.setenv("ACCELSEARCH_LOCK_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="session")
def tiny_space():
    from accelsearch import spaces

    return spaces.get("efficientnet_x", width_mult=0.25, resolutions=(32, 64), depth_deltas=(-1, 0))


@pytest.fixture(scope="session")
def tiny_arch(tiny_space):
    from accelsearch.spaces.efficientnet_x import reference_params

    params = reference_params(resolution=32, width_mult=0.25)
    declared = tiny_space.params()
    params.update({f"s{i}_depth": min(declared[f"s{i}_depth"].values()) for i in range(3, 10)})
    return tiny_space.decode(params)
