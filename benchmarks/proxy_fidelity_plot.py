#!/usr/bin/env python3
"""Draw what the proxy-fidelity benchmark measured: proxy accuracy against ImageNet top-1.

One panel per proxy (``JSON:variant``, from ``proxy_fidelity.py``'s JSON files), one colour
per family, each family's points joined in ImageNet order, so a family ranked as ImageNet ranks
it is a line that only rises; the title gives Kendall τ and the within-family concordance the
benchmark computed. Models without an ImageNet figure (the project's grown B0s) are left out.

    python benchmarks/proxy_fidelity_plot.py \\
        benchmarks/results/accuracy/proxy_fidelity_h100.json:scale29h \\
        benchmarks/results/accuracy/pf_he.json:scale29he32 \\
        --out benchmarks/results/accuracy/proxy_fidelity.png
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def load_panel(spec: str) -> dict[str, Any]:
    """``path.json:variant`` -> the variant's title figures and its points by family."""
    path, _, variant = spec.rpartition(":")
    if not path:
        raise SystemExit(f"panel {spec!r}: write it as path.json:variant")
    doc = json.loads(Path(path).read_text())
    if variant not in doc.get("variants", {}):
        known = ", ".join(sorted(doc.get("variants", {}))) or "none"
        raise SystemExit(f"panel {spec!r}: {path} has no variant {variant!r} (it has: {known})")
    v = doc["variants"][variant]
    epochs = (doc.get("options", {}).get(variant) or {}).get("epochs")
    families: dict[str, list[tuple[float, float, float, str]]] = {}
    for name, m in v["models"].items():
        if "imagenet_top1" not in m:
            continue
        point = (m["imagenet_top1"], m["accuracy_mean"], m.get("accuracy_spread", 0.0), name)
        families.setdefault(m["family"], []).append(point)
    for points in families.values():
        points.sort()
    return {
        "title": f"{variant}" + (f" ({epochs} epochs)" if epochs else ""),
        "tau": v.get("kendall_tau"),
        "concordance": v.get("within_family_concordance"),
        "families": families,
    }


def draw(panels: list[dict[str, Any]], out: Path) -> Path:
    # matplotlib is an optional, heavy dependency: imported only when a figure is drawn
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 4.2), squeeze=False, sharey=True
    )  # one y-scale: a longer budget crowding the models together shows as a flatter panel
    colours = {}
    for ax, panel in zip(axes[0], panels):
        for family, points in sorted(panel["families"].items()):
            colour = colours.setdefault(family, f"C{len(colours)}")
            x, y, err, names = zip(*points)
            ax.errorbar(x, y, yerr=err, marker="o", color=colour, label=family, capsize=2)
            for xi, yi, name in zip(x, y, names):
                ax.annotate(name.split("_")[-1], (xi, yi), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")  # fmt: skip
        tau, conc = panel["tau"], panel["concordance"]
        ax.set_title(f"{panel['title']}\nτ {tau:.2f} · within-family {conc:.2f}", fontsize=10)
        ax.set_xlabel("published ImageNet top-1 (%)")
        ax.set_ylabel("proxy accuracy on CIFAR-10 (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("panels", nargs="+", help="path.json:variant, one per panel")
    p.add_argument("--out", default="benchmarks/results/accuracy/proxy_fidelity.png")
    args = p.parse_args(argv)
    print(draw([load_panel(s) for s in args.panels], Path(args.out)))


if __name__ == "__main__":
    main()
