"""Fixtures for the space tests: one torch thread (the CI box has 2 cores) and the optional
reference data under ``../shared/data`` (absent in CI and in a user's clone: tests skip)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    # tiny convolutions are 100x slower with 2 threads fighting for 2 busy cores
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def shared_data_dir() -> Path | None:
    """``$ACCELSEARCH_SHARED_DATA`` or ``<repo>/../shared/data`` when it exists."""
    env = os.environ.get("ACCELSEARCH_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2].parent / "shared" / "data"
    return root if root.is_dir() else None


@pytest.fixture
def shared_data() -> Path:
    root = shared_data_dir()
    if root is None:
        pytest.skip("reference data ../shared/data is absent (CI and fresh clones have none)")
    return root
