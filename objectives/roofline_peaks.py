"""Peak compute and bandwidth of a device at a precision, the roofline's ceilings.

:class:`Peaks` holds them (and the ridge point ``I* = peak FLOP/s ÷ bandwidth``). They come
from a calibration microbenchmark (:func:`calibrate`: a large matmul in the precision, a
large device-to-device copy counting bytes read + written) cached per device and precision
in ``$ACCELSEARCH_CACHE/peaks.json``; where the device is not here (or calibration is off) a
table of datasheet values (dense, no sparsity, :data:`DATASHEET`) is the fallback.
:func:`peaks_for` picks among the three. The roofline itself is
:mod:`accelsearch.objectives.roofline`, which re-exports every public name here.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from accelsearch.core.errors import ConfigError
from accelsearch.objectives.latency.cache import cache_dir
from accelsearch.objectives.latency.device import device_name as local_device_name
from accelsearch.objectives.latency.device import normalize_device
from accelsearch.objectives.latency.lock import device_lock, lock_key

TERA = 1e12


@dataclass(frozen=True)
class Peaks:
    """Peak compute (FLOP/s) and memory bandwidth (bytes/s) of a device at a precision."""

    device_name: str
    precision: str
    flops: float
    bandwidth: float
    source: str  # "calibrated" or "datasheet: <entry>"

    @property
    def ridge(self) -> float:
        """Ridge point in FLOP/byte."""
        return self.flops / self.bandwidth

    def ideal_rate(self, intensity: float) -> float:
        return min(self.flops, intensity * self.bandwidth)

    def ideal_seconds(self, flops: float, traffic: float) -> float:
        return max(flops / self.flops, traffic / self.bandwidth)


# Datasheet values, dense (no structured sparsity), TFLOP/s per precision and TB/s. The
# fp32 entry is the TF32 tensor-core rate where the GPU has one (PyTorch runs fp32
# convolutions in TF32 by default); "fp32_plain" is the CUDA-core rate.
# Sources: NVIDIA H100, H200, A100, V100, L4, L40S, A10, T4 datasheets; RTX 4090 whitepaper.
DATASHEET: tuple[tuple[tuple[str, ...], str, dict[str, float], float], ...] = (
    (("H200",), "H200 SXM", {"fp16": 989.4, "bf16": 989.4, "fp32": 494.7, "int8": 1978.9}, 4.8),
    (
        ("H100", "PCIe"),
        "H100 PCIe",
        {"fp16": 756.0, "bf16": 756.0, "fp32": 378.0, "int8": 1513.0},
        2.0,
    ),
    (
        ("H100", "NVL"),
        "H100 NVL",
        {"fp16": 835.0, "bf16": 835.0, "fp32": 417.5, "int8": 1670.0},
        3.9,
    ),
    (("H100",), "H100 SXM", {"fp16": 989.4, "bf16": 989.4, "fp32": 494.7, "int8": 1978.9}, 3.35),
    (
        ("A100", "PCIe", "40GB"),
        "A100 PCIe 40GB",
        {"fp16": 312.0, "bf16": 312.0, "fp32": 156.0, "int8": 624.0},
        1.555,
    ),
    (
        ("A100", "40GB"),
        "A100 SXM 40GB",
        {"fp16": 312.0, "bf16": 312.0, "fp32": 156.0, "int8": 624.0},
        1.555,
    ),
    (
        ("A100", "PCIe"),
        "A100 PCIe 80GB",
        {"fp16": 312.0, "bf16": 312.0, "fp32": 156.0, "int8": 624.0},
        1.935,
    ),
    (
        ("A100",),
        "A100 SXM 80GB",
        {"fp16": 312.0, "bf16": 312.0, "fp32": 156.0, "int8": 624.0},
        2.039,
    ),
    (("V100", "PCIe"), "V100 PCIe", {"fp16": 112.0, "fp32": 14.0}, 0.9),
    (("V100",), "V100 SXM2", {"fp16": 125.0, "fp32": 15.7}, 0.9),
    (("L40S",), "L40S", {"fp16": 362.05, "bf16": 362.05, "fp32": 183.0, "int8": 733.0}, 0.864),
    (("L4",), "L4", {"fp16": 121.0, "bf16": 121.0, "fp32": 60.0, "int8": 242.5}, 0.3),
    (("A10",), "A10", {"fp16": 125.0, "bf16": 125.0, "fp32": 62.5, "int8": 250.0}, 0.6),
    (("T4",), "T4", {"fp16": 65.0, "fp32": 8.1, "int8": 130.0}, 0.32),
    (("RTX 4090",), "RTX 4090", {"fp16": 165.2, "bf16": 165.2, "fp32": 82.6, "int8": 660.6}, 1.008),
)


def datasheet_peaks(device_name: str, precision: str) -> Peaks | None:
    """Datasheet peaks for a GPU name (first entry whose words all appear as whole tokens,
    so "L4" does not match "L40S" nor "A10" "A10G"), or ``None``."""
    import re

    def has(word: str) -> bool:
        return (
            re.search(rf"(?<![A-Za-z0-9]){re.escape(word)}(?![A-Za-z0-9])", device_name) is not None
        )

    for words, label, tflops, tbps in DATASHEET:
        if all(has(w) for w in words) and precision in tflops:
            return Peaks(
                device_name, precision, tflops[precision] * TERA, tbps * TERA, f"datasheet: {label}"
            )
    return None


def _peaks_file() -> Path:
    return cache_dir() / "peaks.json"


def _read_peaks_file() -> dict[str, Any]:
    try:
        return json.loads(_peaks_file().read_text())
    except (OSError, ValueError):
        return {}


def _write_peaks(p: Peaks) -> None:
    import fcntl

    path = _peaks_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(str(path) + ".lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        data = _read_peaks_file()
        data[f"{p.device_name}|{p.precision}"] = asdict(p)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        tmp.replace(path)


def calibrate(
    device: str = "cuda", precision: str = "fp16", quick: bool = False, threads: int | None = None
) -> Peaks:
    """Measure peak FLOP/s (large matmul) and bandwidth (large copy) on ``device``.

    GPU: an 8192³ matmul (fp16/bf16; fp32 with TF32 as PyTorch's convolutions use it;
    int8 through ``torch._int_mm``) and a 1 GiB device-to-device copy, each the median of
    repeated CUDA-event timings, under the device's measurement lock. CPU: a 2048³ fp32
    matmul and a 64 MiB copy with ``threads`` threads (default PyTorch's). ``quick`` uses
    small sizes (tests).
    """
    device = normalize_device(device)
    with device_lock(lock_key(device)):
        if device == "cpu":
            old = torch.get_num_threads()
            torch.set_num_threads(threads or old)
            try:
                flops, bw = _calibrate_cpu(quick)
            finally:
                torch.set_num_threads(old)
        else:
            flops, bw = _calibrate_cuda(torch.device(device), precision, quick)
    return Peaks(local_device_name(device, threads), precision, flops, bw, "calibrated")


def _best_time(fn, reps: int, sync) -> float:
    """The fastest of ``reps`` timings: a peak is what the device can do, and on a shared
    machine the median of a busy moment understates it."""
    fn()
    sync()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t)
    return float(np.min(times))


def _calibrate_cpu(quick: bool) -> tuple[float, float]:
    n = 256 if quick else 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = _best_time(lambda: a @ b, 3 if quick else 10, lambda: None)
    flops = 2 * n**3 / t
    size = (4 if quick else 64) << 20
    src = torch.randn(size // 4)
    dst = torch.empty_like(src)
    t = _best_time(lambda: dst.copy_(src), 3 if quick else 10, lambda: None)
    return flops, 2 * size / t


def _calibrate_cuda(dev: torch.device, precision: str, quick: bool) -> tuple[float, float]:
    n = 2048 if quick else 8192
    reps = 5 if quick else 20

    def timed(fn) -> float:
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        for _ in range(3):
            fn()
        times = []
        for _ in range(reps):
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1000.0)
        return float(np.min(times))  # the peak, as on the CPU

    with torch.cuda.device(dev):
        if precision == "int8":
            a = torch.randint(-8, 8, (n, n), device=dev, dtype=torch.int8)
            b = torch.randint(-8, 8, (n, n), device=dev, dtype=torch.int8)
            t = timed(lambda: torch._int_mm(a, b))
        else:
            dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[
                precision
            ]
            a = torch.randn(n, n, device=dev, dtype=dtype)
            b = torch.randn(n, n, device=dev, dtype=dtype)
            old = torch.backends.cuda.matmul.allow_tf32
            torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
            try:
                t = timed(lambda: a @ b)
            finally:
                torch.backends.cuda.matmul.allow_tf32 = old
        flops = 2 * n**3 / t
        size = (64 if quick else 1024) << 20
        src = torch.randn(size // 4, device=dev)
        dst = torch.empty_like(src)
        t = timed(lambda: dst.copy_(src))
    torch.cuda.empty_cache()
    return flops, 2 * size / t


def peaks_for(
    device_name: str | None = None,
    precision: str = "fp16",
    device: str | None = None,
    calibrate_if_missing: bool = True,
) -> Peaks:
    """Peaks for a device name and precision: the calibration cache, else a calibration
    now (when ``device`` is here and has that name), else the datasheet table."""
    local = None
    if device is not None:
        with_gpu = device == "cpu" or torch.cuda.is_available()
        local = normalize_device(device) if with_gpu else None
    if device_name is None:
        if local is None:
            raise ConfigError("peaks_for needs a device_name or a device that is here")
        device_name = local_device_name(local)
    cached = _read_peaks_file().get(f"{device_name}|{precision}")
    if cached:
        return Peaks(**cached)
    threads = _cpu_threads(device_name) if local == "cpu" else None
    if (
        calibrate_if_missing
        and local is not None
        and local_device_name(local, threads) == device_name
    ):
        p = calibrate(local, precision, threads=threads)
        _write_peaks(p)
        return p
    sheet = datasheet_peaks(device_name, precision)
    if sheet is not None:
        return sheet
    raise ConfigError(
        f"no peak FLOP/s and bandwidth known for {device_name!r} at {precision}: it is not "
        "in the datasheet table and not here to calibrate; run "
        "roofline.calibrate(device, precision) on that machine, or pass peaks=Peaks(...)"
    )


def _cpu_threads(name: str) -> int | None:
    """The thread count in a CPU device name ("... torch threads 4)")."""
    import re

    m = re.search(r"torch threads (\d+)\)$", name)
    return int(m.group(1)) if m else None
