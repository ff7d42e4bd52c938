"""Shared by the latency benchmark scripts: environment record, JSON written as it goes,
a short table."""

from __future__ import annotations

import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as `python benchmarks/latency_*.py` from anywhere
    sys.path.insert(0, str(ROOT))


def environment(device: str) -> dict[str, Any]:
    """Device name, library versions and date for a results file."""
    import timm
    import torch

    from accelsearch.objectives.latency.device import device_name, normalize_device

    dev = normalize_device(device)
    env = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "device": dev,
        "device_name": device_name(dev),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "timm": timm.__version__,
        "cuda": torch.version.cuda,
        "host": platform.node(),
    }
    try:
        import onnxruntime

        env["onnxruntime"] = onnxruntime.__version__
    except ImportError:
        pass
    if dev != "cpu":
        props = torch.cuda.get_device_properties(torch.device(dev))
        env["gpu_memory_gb"] = round(props.total_memory / 2**30, 1)
        env["gpu_count"] = torch.cuda.device_count()
    return env


class Results:
    """A JSON file rewritten after every record, so a run cut short leaves what it did."""

    def __init__(self, path: Path, meta: dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, Any] = {"meta": meta, "records": [], "summary": {}}
        self.flush()

    def add(self, record: dict[str, Any]) -> None:
        self.data["records"].append(record)
        self.flush()

    def summary(self, key: str, value: Any) -> None:
        self.data["summary"][key] = value
        self.flush()

    def flush(self) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=str))
        tmp.replace(self.path)


def table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A markdown table of ``rows`` (floats to 4 significant digits)."""

    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.4g}"
        return "" if v is None else str(v)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return "\n".join(lines)
