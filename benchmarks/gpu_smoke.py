"""GPU smoke benchmark: the environment, and reference archs timed with the torch backend.

Run on the GPU machine from the repository root:

    PYTHONPATH=. python benchmarks/gpu_smoke.py --out $OUT/gpu_smoke.json

Records the device, library versions, and for each reference arch the latency at batch 1
and 128 (fp16, channels_last) with CUDA-graph replay and with eager launches.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batches", default="1,128")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()

    import timm

    from accelsearch import spaces
    from accelsearch.objectives import latency

    info = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "timm": timm.__version__,
        "device": torch.cuda.get_device_name() if args.device == "cuda" else platform.processor(),
        "results": [],
    }
    refs = [
        ("efficientnet_x", "efficientnet-x-b0"),
        ("efficientnet", "efficientnet-b0"),
        ("genet", "genet-light"),
        ("genet", "genet-normal"),
        ("gpunet", "gpunet-0"),
        ("gpunet", "gpunet-1"),
        ("gpunet", "gpunet-2"),
    ]
    if args.quick:
        refs = refs[:1]
    batches = [int(b) for b in args.batches.split(",")]
    out = Path(args.out)
    prec = "fp16" if args.device == "cuda" else "fp32"
    for space_name, ref in refs:
        arch = spaces.get(space_name).reference(ref)
        for bs in batches if not args.quick else [1]:
            for mode, opts in (("cuda_graph", {}), ("eager", {"cuda_graphs": False})):
                if args.device == "cpu" and mode == "eager":
                    continue
                try:
                    r = latency.measure(
                        arch,
                        batch_size=bs,
                        backend="torch",
                        device=args.device,
                        precision=prec,
                        **opts,
                    )
                    row = {"space": space_name, "ref": ref, **r.to_dict()}
                except Exception as exc:  # noqa: BLE001 - record and go on
                    row = {
                        "space": space_name,
                        "ref": ref,
                        "batch_size": bs,
                        "mode": mode,
                        "error": repr(exc),
                    }
                info["results"].append(row)
                out.write_text(json.dumps(info, indent=1))
                print(
                    f"{ref:20s} bs{bs:4d} {row.get('mode', mode):28s} "
                    f"{row.get('median_ms', float('nan')):8.3f} ms cv {row.get('cv', float('nan')):.3f} "
                    f"n {row.get('n', 0)} {row.get('error', '')}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
