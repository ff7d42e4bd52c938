"""Image data for accuracy evaluators, decoded once into uint8 tensors.

Sources (``load_dataset(spec)``):

* ``"digits"``: scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes),
  shipped with the installation, so the quickstart runs offline on a fresh machine;
* a folder in ImageFolder layout (``<class>/<image>``), or with ``train/`` and ``val/`` (or
  ``test/``) sub-folders of that layout;
* a ``.tar.gz`` of such a folder (extracted once into a cache folder).

Images are decoded once into a ``uint8`` tensor ``N×C×H×W`` (cached as ``.npz`` beside an
extracted archive); resizing and augmentation happen later, batched, on the training device.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from accelsearch.errors import ConfigError, EvaluationError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".gif", ".tif", ".tiff"}


@dataclass
class ImageData:
    """Train and validation images (uint8, N×C×H×W) with integer labels."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    classes: list[str]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_chans(self) -> int:
        return int(self.train_x.shape[1])


def cache_dir() -> Path:
    return Path(os.environ.get("ACCELSEARCH_CACHE", Path.home() / ".cache" / "accelsearch"))


def load_dataset(spec: str | os.PathLike, val_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """Load ``spec`` (see the module docstring); split off ``val_fraction`` when the source
    has no validation split of its own."""
    text = str(spec)
    if text == "digits":
        return _digits(val_fraction, seed)
    path = Path(text).expanduser()
    if not path.exists():
        raise ConfigError(
            f"dataset {text!r} does not exist; use 'digits' (bundled), an ImageFolder "
            "directory or a .tar.gz of one"
        )
    if path.is_file() and (
        text.endswith(".tar.gz") or text.endswith(".tgz") or text.endswith(".tar")
    ):
        path = _extract(path)
    if not path.is_dir():
        raise ConfigError(f"dataset {text!r} is neither a folder nor a .tar.gz archive")
    return _image_folder(path, val_fraction, seed)


def _split(x: torch.Tensor, y: torch.Tensor, val_fraction: float, seed: int):
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, int(round(len(y) * val_fraction)))
    val, train = perm[:n_val], perm[n_val:]
    return x[train], y[train], x[val], y[val]


def _digits(val_fraction: float, seed: int) -> ImageData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy((d.images * (255.0 / 16.0)).round().astype(np.uint8))[:, None]
    y = torch.from_numpy(d.target.astype(np.int64))
    tx, ty, vx, vy = _split(x, y, val_fraction, seed)
    return ImageData("digits", tx, ty, vx, vy, [str(c) for c in range(10)])


def _extract(archive: Path) -> Path:
    digest = hashlib.sha256(f"{archive.resolve()}:{archive.stat().st_size}".encode()).hexdigest()[
        :16
    ]
    dest = cache_dir() / "datasets" / f"{archive.name.split('.')[0]}-{digest}"
    marker = dest / ".extracted"
    if not marker.exists():
        dest.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(archive) as tar:
                tar.extractall(dest, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ConfigError(f"dataset archive {str(archive)!r} cannot be read: {exc}") from None
        marker.touch()
    # an archive usually holds one top folder
    entries = [p for p in dest.iterdir() if not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir():
        return entries[0]
    return dest


def _list_images(folder: Path) -> tuple[list[str], list[tuple[Path, int]]]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    items = []
    for idx, cls in enumerate(classes):
        for f in sorted((folder / cls).rglob("*")):
            if f.suffix.lower() in IMAGE_EXTS:
                items.append((f, idx))
    return classes, items


def _decode(items: list[tuple[Path, int]], folder: Path) -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image

    cache = folder / ".accelsearch-decoded.npz"
    if cache.exists() and cache.stat().st_mtime >= folder.stat().st_mtime:
        with np.load(cache) as z:
            if len(z["y"]) == len(items):
                return torch.from_numpy(z["x"]), torch.from_numpy(z["y"])
    arrays, labels, size = [], [], None
    for f, label in items:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB")
                if size is None:
                    size = im.size
                if im.size != size:
                    im = im.resize(size)
                arrays.append(np.asarray(im, dtype=np.uint8))
        except OSError as exc:
            raise EvaluationError(f"image {str(f)!r} cannot be decoded: {exc}") from None
        labels.append(label)
    x = np.stack(arrays).transpose(0, 3, 1, 2).copy()
    y = np.asarray(labels, dtype=np.int64)
    try:
        np.savez(cache, x=x, y=y)
    except OSError:
        pass  # read-only data folder: decode again next time
    return torch.from_numpy(x), torch.from_numpy(y)


def _image_folder(folder: Path, val_fraction: float, seed: int) -> ImageData:
    train_dir = folder / "train"
    val_dir = next(
        (folder / n for n in ("val", "validation", "test") if (folder / n).is_dir()), None
    )
    if train_dir.is_dir() and val_dir is not None:
        classes, train_items = _list_images(train_dir)
        val_classes, val_items = _list_images(val_dir)
        if val_classes != classes:
            raise ConfigError(
                f"dataset {str(folder)!r}: classes of {train_dir.name}/ and {val_dir.name}/ differ "
                f"({len(classes)} vs {len(val_classes)} folders)"
            )
        _check_nonempty(folder, classes, train_items)
        _check_nonempty(folder, classes, val_items)
        tx, ty = _decode(train_items, train_dir)
        vx, vy = _decode(val_items, val_dir)
        return ImageData(folder.name, tx, ty, vx, vy, classes)
    classes, items = _list_images(folder)
    _check_nonempty(folder, classes, items)
    x, y = _decode(items, folder)
    tx, ty, vx, vy = _split(x, y, val_fraction, seed)
    return ImageData(folder.name, tx, ty, vx, vy, classes)


def _check_nonempty(folder: Path, classes: list[str], items: list) -> None:
    if not classes or not items:
        raise ConfigError(
            f"dataset {str(folder)!r} has no images in ImageFolder layout "
            "(<class>/<image>.jpg, optionally under train/ and val/)"
        )
    if len(classes) < 2:
        raise ConfigError(f"dataset {str(folder)!r} has only one class folder ({classes[0]!r})")
