"""Helpers shared by the accuracy tests: tiny archs, small image folders and archives."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np

from accelsearch.core.arch import Arch, Head, Stage


def tiny_arch(width: int = 16, resolution: int = 16) -> Arch:
    """A few-thousand-parameter net that trains in a second on the CPU."""
    return Arch(
        resolution=resolution,
        stem=Stage("conv", 8, stride=2),
        stages=(
            Stage("mbconv", width, depth=2, stride=2, expansion=3, se=0.25),
            Stage("fused", width + 8, stride=2, expansion=2),
        ),
        head=Head(32),
    )


def write_images(root: Path, classes: dict[str, int], size=(12, 12), seed=0, ext=".png") -> None:
    """``root/<class>/<i>.png`` with a class-dependent mean colour (so classes are learnable)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for k, (cls, n) in enumerate(sorted(classes.items())):
        d = root / cls
        d.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            base = np.full((*size, 3), 40 + 60 * k, dtype=np.float64)
            img = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
            Image.fromarray(img).save(d / f"{i:04d}{ext}")


def make_tar(src: Path, dest: Path, arcname: str) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(src, arcname=arcname)
    return dest
