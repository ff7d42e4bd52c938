#!/usr/bin/env python3
"""Cut a small, harder proxy task out of a large ImageFolder dataset, sized to travel to a GPU.

Issue 15 found CIFAR-10 too easy to rank ImageNet families (``proxy_fidelity.md``): the next
proxy task is an ImageNet-like subset, and a device call carries at most 64 MiB. This writes
``<out>-train.tar.gz`` and ``<out>-val.tar.gz`` in the ImageFolder layout the accuracy
evaluators and ``proxy_fidelity.py --train/--val`` read: ``--classes`` classes drawn at random
(seeded, not picked by hand), ``--train-per-class`` and ``--val-per-class`` images of each,
every image resized on its shorter side and centre-cropped to ``--size`` px, stored as JPEG.
It stops with an error when the two archives together exceed ``--max-mib``.

    python benchmarks/make_proxy_subset.py /data/imagenet --classes 100 --size 64 \\
        --train-per-class 260 --val-per-class 50 --out .data/in100-64

The source is a folder with ``train/`` and ``val/`` (or ``validation/``) sub-folders of
``<class>/<image>``, or one ``<class>/<image>`` folder, whose images are then split.
"""

from __future__ import annotations

import argparse
import io
import random
import sys
import tarfile
from pathlib import Path

from PIL import Image

from accelsearch.objectives.accuracy.data import IMAGE_EXTS  # what the loader reads

_VAL_NAMES = ("val", "validation", "test")


def class_images(folder: Path) -> dict[str, list[Path]]:
    """``{class: sorted image paths}`` of an ImageFolder-layout folder."""
    out = {}
    for d in sorted(p for p in folder.iterdir() if p.is_dir()):
        images = sorted(p for p in d.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        if images:
            out[d.name] = images
    return out


def pick(source: Path, classes: int, n_train: int, n_val: int, seed: int):
    """``(train, val)``: lists of ``(class, path)``, the classes and images drawn with ``seed``."""
    rng = random.Random(seed)
    val_dir = next((source / n for n in _VAL_NAMES if (source / n).is_dir()), None)
    train_src = class_images(source / "train" if val_dir else source)
    val_src = class_images(val_dir) if val_dir else None
    usable = [c for c in train_src if val_src is None or c in val_src]
    if len(usable) < classes:
        raise SystemExit(f"--classes {classes}: {source} has {len(usable)} usable classes")
    train, val = [], []
    for c in sorted(rng.sample(usable, classes)):
        images = rng.sample(train_src[c], len(train_src[c]))
        if val_src is None:  # one folder: the first n_val of the shuffled images validate
            val_images, images = images[:n_val], images[n_val:]
        else:
            val_images = rng.sample(val_src[c], min(n_val, len(val_src[c])))
        train += [(c, p) for p in images[:n_train]]
        val += [(c, p) for p in val_images]
    return train, val


def square_jpeg(path: Path, size: int, quality: int) -> bytes:
    with Image.open(path) as im:
        im = im.convert("RGB")
        scale = size / min(im.size)
        w, h = max(size, round(im.width * scale)), max(size, round(im.height * scale))
        im = im.resize((w, h), Image.BICUBIC)
        left, top = (w - size) // 2, (h - size) // 2
        im = im.crop((left, top, left + size, top + size))
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        return buf.getvalue()


def write_archive(items, root: str, out: Path, size: int, quality: int) -> int:
    """Write ``items`` as ``root/<class>/<image>.jpg`` into a ``.tar.gz``; its size in bytes."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w:gz") as tar:
        for i, (c, path) in enumerate(items):
            data = square_jpeg(path, size, quality)
            info = tarfile.TarInfo(f"{root}/{c}/{path.stem}.jpg")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
            if (i + 1) % 2000 == 0:
                print(f"  {out.name}: {i + 1}/{len(items)} images", flush=True)
    return out.stat().st_size


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("source", type=Path)
    p.add_argument("--out", required=True, help="prefix: writes <out>-train/-val.tar.gz")
    p.add_argument("--classes", type=int, default=100)
    p.add_argument("--train-per-class", type=int, default=260)
    p.add_argument("--val-per-class", type=int, default=50)
    p.add_argument("--size", type=int, default=64, help="side of the square images (px)")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-mib", type=float, default=60.0, help="both archives together")
    a = p.parse_args(argv)
    train, val = pick(a.source, a.classes, a.train_per_class, a.val_per_class, a.seed)
    sizes = [
        write_archive(items, split, Path(f"{a.out}-{split}.tar.gz"), a.size, a.quality)
        for split, items in (("train", train), ("val", val))
    ]
    total = sum(sizes) / 2**20
    print(f"{a.classes} classes, {len(train)} train / {len(val)} val images at {a.size} px: "
          f"{total:.1f} MiB")  # fmt: skip
    if total > a.max_mib:
        print(f"error: {total:.1f} MiB is over --max-mib {a.max_mib}; lower --train-per-class, "
              f"--size or --quality", file=sys.stderr)  # fmt: skip
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
