"""Helpers shared by the benchmark scripts: environment record, JSON written as it goes,
Kendall's tau, a plain-text table, one process per GPU."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/<script>.py` from a checkout
    sys.path.insert(0, str(ROOT))


def environment(device: str, **extra: Any) -> dict[str, Any]:
    """Device name, library versions, date, and whatever the script adds."""
    import timm
    import torch

    env: dict[str, Any] = {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "device": device,
        "host_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(torch.device(device))
    else:
        env["device_name"] = platform.processor() or platform.machine()
    env.update(extra)
    return env


def gpu_ids(count: int) -> list[str]:
    """The ids of ``count`` GPUs to give child processes: the first ``count`` entries of
    ``CUDA_VISIBLE_DEVICES`` when it is set, else ``0..count-1``."""
    visible = [v for v in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if v.strip()]
    ids = visible or [str(i) for i in range(count)]
    if count > len(ids):
        raise SystemExit(f"--gpus {count}: only {len(ids)} GPUs are visible ({ids})")
    return ids[:count]


def run_on_gpus(jobs: list[list[str]], gpus: int) -> list[int]:
    """Run each job (an argv) as a process that sees one GPU (``CUDA_VISIBLE_DEVICES``),
    at most one job per GPU at a time, and return the exit codes in job order.

    Why: a benchmark's timings must not share a GPU with another process's, and one process
    per GPU uses a multi-GPU host fully. Children inherit stdout, so their lines interleave.
    """
    ids = gpu_ids(gpus)
    pending = list(enumerate(jobs))
    running: dict[str, tuple[int, subprocess.Popen]] = {}
    codes: list[int] = [0] * len(jobs)
    while pending or running:
        for gpu in ids:
            if gpu not in running and pending:
                i, argv = pending.pop(0)
                env = {**os.environ, "CUDA_VISIBLE_DEVICES": gpu, "PYTHONUNBUFFERED": "1"}
                # each child's share of the cores: N children each starting one OpenMP
                # thread per core made CPU work 80x slower on a 4-GPU, 64-core host
                env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // len(ids))))
                print(f"[gpus] job {i} on GPU {gpu}: {' '.join(argv[1:])}", flush=True)
                running[gpu] = (i, subprocess.Popen(argv, env=env))
        for gpu, (i, proc) in list(running.items()):
            if proc.poll() is not None:
                codes[i] = proc.returncode
                del running[gpu]
        time.sleep(0.2)
    return codes


class ResultFile:
    """A JSON document rewritten after every change, so an interrupted run keeps its data."""

    def __init__(self, path: str | os.PathLike, doc: dict[str, Any]) -> None:
        self.path = Path(path)
        self.doc = doc
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        tmp.write_text(json.dumps(self.doc, indent=2, default=_jsonable))
        os.replace(tmp, self.path)


def _jsonable(obj: Any):
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:
        pass
    return str(obj)


def kendall_tau(a, b) -> float | None:
    """Kendall's tau-b of two paired sequences (None when fewer than 2 pairs)."""
    if len(a) < 2:
        return None
    try:
        from scipy.stats import kendalltau
    except ImportError:  # the GPU image runs these scripts without the package bundle
        return _kendall_tau_b(list(a), list(b))
    tau = kendalltau(a, b).statistic
    return None if tau != tau else float(tau)  # NaN (constant input) -> None


def _kendall_tau_b(a: list, b: list) -> float | None:
    """Kendall's tau-b by pair counting (O(n^2); the benchmarks rank a handful of archs)."""
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a)):
        for j in range(i + 1, len(a)):
            da, db = a[i] - a[j], b[i] - b[j]
            if da == 0 and db == 0:
                continue
            if da == 0:
                ties_a += 1
            elif db == 0:
                ties_b += 1
            elif (da > 0) == (db > 0):
                concordant += 1
            else:
                discordant += 1
    n1 = concordant + discordant + ties_a
    n2 = concordant + discordant + ties_b
    if n1 == 0 or n2 == 0:
        return None
    return (concordant - discordant) / (n1 * n2) ** 0.5


def spearman_rho(a, b) -> float | None:
    if len(a) < 2:
        return None
    try:
        from scipy.stats import spearmanr
    except ImportError:
        return None
    rho = spearmanr(a, b).statistic
    return None if rho != rho else float(rho)


def text_table(header: list[str], rows: list[list[Any]]) -> str:
    cells = [[str(h) for h in header]] + [[_fmt(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.3e}"
    return "-" if v is None else str(v)
