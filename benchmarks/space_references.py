"""Parameters and multiply-adds of every built-in reference architecture vs the papers.

Counts with ``accelsearch.accounting.model_cost`` (``torch.utils.flop_counter``) at each
reference's own resolution, 1000 classes (NB201 cells: 10 classes, 32 px). Writes JSON as
it goes and prints a table.

    python benchmarks/space_references.py --out benchmarks/results/space_references.json
    python benchmarks/space_references.py --quick --out /tmp/refs.json   # two references

CPU is enough (about a minute on 2 cores); ``--device cuda`` counts on a GPU instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import sys
import time
from pathlib import Path

#: (space, options, reference or cell string, classes, published params, published MACs)
CASES = [
    ("efficientnet_x", {}, "efficientnet-x-b0", 1000, 7.6e6, 0.91e9),
    ("gpunet", {}, "gpunet-0", 1000, 11.9e6, 3.31e9),
    ("gpunet", {}, "gpunet-1", 1000, 12.7e6, 3.38e9),
    ("gpunet", {}, "gpunet-2", 1000, 25.8e6, 8.71e9),
    ("genet", {}, "genet-light", 1000, 8.17e6, 0.552e9),
    ("genet", {}, "genet-normal", 1000, 21e6, 2.2e9),
    ("genet", {}, "genet-large", 1000, 31e6, 4.6e9),
    ("efficientnet", {}, "efficientnet-b0", 1000, 5.3e6, 0.39e9),
    (
        "nb201",
        {},
        "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|nor_conv_3x3~2|",
        10,
        1.53e6,
        220.11e6,
    ),
    (
        "nb201",
        {},
        "|skip_connect~0|+|none~0|skip_connect~1|+|none~0|none~1|skip_connect~2|",
        10,
        0.073e6,
        7.78e6,
    ),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    ap.add_argument("--quick", action="store_true", help="two references only")
    args = ap.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # measure this checkout
    import timm
    import torch

    from accelsearch import spaces
    from accelsearch.accounting import model_cost

    device = torch.device(args.device)
    result = {
        "benchmark": "space_references",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": torch.cuda.get_device_name()
        if device.type == "cuda"
        else platform.processor() or platform.machine(),
        "versions": {
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "timm": timm.__version__,
            "cuda": torch.version.cuda,
        },
        "backend": "torch.utils.flop_counter",
        "precision": "fp32",
        "rows": [],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cases = CASES[:2] if args.quick else CASES
    for space_name, options, ref, classes, pub_params, pub_macs in cases:
        t0 = time.perf_counter()
        space = spaces.get(space_name, **options)
        arch = space.from_string(ref) if ref.startswith("|") else space.reference(ref)
        model = space.build(arch, num_classes=classes).to(device)
        cost = model_cost(model, arch.resolution, arch.in_chans)
        result["rows"].append(
            {
                "space": space_name,
                "reference": ref,
                "resolution": arch.resolution,
                "classes": classes,
                "params": cost.params,
                "macs": cost.macs,
                "published_params": pub_params,
                "published_macs": pub_macs,
                "params_error": cost.params / pub_params - 1,
                "macs_error": cost.macs / pub_macs - 1,
                "seconds": round(time.perf_counter() - t0, 2),
            }
        )
        args.out.write_text(json.dumps(result, indent=2))
    print(f"{'reference':<22} {'px':>4} {'params M':>9} {'paper':>7} {'MACs G':>8} {'paper':>7}")
    for r in result["rows"]:
        name = r["reference"] if len(r["reference"]) < 22 else r["reference"][:19] + "..."
        print(
            f"{name:<22} {r['resolution']:>4} {r['params'] / 1e6:>9.3f} "
            f"{r['published_params'] / 1e6:>7.3f} {r['macs'] / 1e9:>8.4f} "
            f"{r['published_macs'] / 1e9:>7.4f}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
