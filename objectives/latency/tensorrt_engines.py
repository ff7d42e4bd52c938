"""TensorRT's on-disk caches (serialized engines, timing caches) and the TensorRT objects
the backend hands to the builder (a logger that keeps errors, an entropy calibrator).

Part of the TensorRT backend (:mod:`~accelsearch.objectives.latency.tensorrt_backend`);
the ``trt`` module is passed in, so nothing here imports TensorRT.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

from accelsearch.objectives.latency.base import InputShape
from accelsearch.objectives.latency.tensorrt_settings import BuildSettings


def engine_cache_fields(
    model_hash: str,
    input_shape: InputShape,
    settings: BuildSettings,
    trt_version: str,
    gpu_name: str,
    options: dict[str, Any],
) -> dict[str, Any]:
    """What identifies an engine: structure, shape (batch), precision, TensorRT version,
    GPU and every build setting."""
    return {
        "model_hash": model_hash,
        "input_shape": list(input_shape),
        "precision": settings.precision,
        "tensorrt": trt_version,
        "gpu": gpu_name,
        "flags": list(settings.flags),
        "strongly_typed": settings.strongly_typed,
        "onnx_precision": settings.onnx_precision,
        "calibrate": settings.calibrate,
        "options": {k: options[k] for k in sorted(options)},
    }


def engine_cache_key(fields: dict[str, Any]) -> str:
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-")


def timing_cache_path(folder: Path, trt_version: str, gpu_name: str) -> Path:
    """One timing cache per TensorRT version and GPU model."""
    return folder / f"timing-trt{_slug(trt_version)}-{_slug(gpu_name)}.cache"


def atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


class EngineCache:
    """Serialized engines on disk, ``<key>.engine`` with a ``<key>.json`` of its fields."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.engine"

    def get(self, key: str) -> bytes | None:
        p = self.path(key)
        try:
            return p.read_bytes()
        except OSError:
            return None

    def put(self, key: str, engine: bytes, fields: dict[str, Any]) -> None:
        atomic_write(self.folder / f"{key}.json", json.dumps(fields, indent=1).encode())
        atomic_write(self.path(key), bytes(engine))


def folder_option(value: Any, default: Path) -> Path | None:
    """An ``engine_cache`` option: False -> off, True/None -> ``default``, else a folder."""
    if value is False:
        return None
    if value is True or value is None:
        return default
    return Path(str(value)).expanduser()


def collecting_logger(trt):
    """A ``trt.ILogger`` that keeps errors (for messages) and prints nothing below them."""

    class _Logger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.errors: list[str] = []

        def log(self, severity, msg) -> None:
            if severity in (trt.ILogger.Severity.ERROR, trt.ILogger.Severity.INTERNAL_ERROR):
                self.errors.append(str(msg))

    return _Logger()


def entropy_calibrator(trt, batches, device: torch.device):
    """TensorRT's entropy calibrator over fp32 ``batches`` (numpy arrays of one shape)."""

    class _Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self._batches = [torch.from_numpy(b).to(device) for b in batches]
            self._next = 0

        def get_batch_size(self) -> int:
            return int(batches[0].shape[0])

        def get_batch(self, names):
            if self._next >= len(self._batches):
                return None
            t = self._batches[self._next]
            self._next += 1
            return [int(t.data_ptr())]

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, cache) -> None:
            return None

    return _Calibrator()
