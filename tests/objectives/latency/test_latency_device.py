"""The device and environment helpers (``latency/device.py``): where a measurement runs, and
their old import path through ``latency/base.py``."""

from __future__ import annotations

import platform

import pytest
import torch

from accelsearch.core.errors import ConfigError
from accelsearch.objectives.latency import base, device

MOVED = ("normalize_device", "device_kind", "device_name", "base_versions", "is_out_of_memory")


@pytest.mark.parametrize("name", MOVED)
def test_the_old_import_path_gives_the_same_function(name):
    assert getattr(base, name) is getattr(device, name)
    assert getattr(device, name).__module__ == "accelsearch.objectives.latency.device"


def test_devices_are_normalized_and_a_bad_one_names_the_valid_choices():
    assert device.normalize_device("cpu") == "cpu"
    assert device.normalize_device("cuda") == "cuda:0"
    assert device.normalize_device("cuda:3") == "cuda:3"
    assert device.normalize_device(None) == ("cuda:0" if torch.cuda.is_available() else "cpu")
    assert device.device_kind("cpu") == "cpu" and device.device_kind("cuda:1") == "cuda"
    for bad in ("gpu", "cuda:x", 0):
        with pytest.raises(ConfigError, match=r"latency device is .*valid: 'cpu', 'cuda'"):
            device.normalize_device(bad)


def test_the_cpu_name_says_cores_and_threads_and_versions_name_the_stack():
    name = device.device_name("cpu", threads=2)
    assert name.endswith(" threads 2)") and " cores, torch threads" in name
    versions = device.base_versions()
    assert versions["torch"] == torch.__version__
    assert versions["python"] == platform.python_version() and "timm" in versions
