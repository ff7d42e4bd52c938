"""Folders and archives in ImageFolder layout, decoded once into uint8 tensors and cached.

``decoded_splits(path)`` reads a folder (``<class>/<image>``, optionally under split folders
such as ``train/`` and ``val/``) or a tar archive of one, straight from the archive stream
(nothing is extracted), and caches the decoded images as ``.npz`` in :func:`cache_dir`
(keyed by the source's path, size and modification time), so the next process reads one
file. :mod:`.data` assembles these splits into an ``ImageData``.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from accelsearch.core.errors import ConfigError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".webp", ".gif", ".tif", ".tiff"}
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")
TRAIN_SPLITS = ("train", "training")
VAL_SPLITS = ("val", "valid", "validation", "test")
_CACHE_VERSION = "2"

Split = tuple[torch.Tensor, np.ndarray, list[str]]  # images, label indices, class names


def cache_dir() -> Path:
    return Path(os.environ.get("ACCELSEARCH_CACHE", Path.home() / ".cache" / "accelsearch"))


def source_name(path: Path) -> str:
    name = path.name
    for suf in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return name


def _fingerprint(path: Path) -> str:
    path = path.resolve()
    if path.is_file():
        st = path.stat()
        text = f"{path}:{st.st_size}:{st.st_mtime_ns}"
    else:
        count, size, mtime = 0, 0, 0
        for f in path.rglob("*"):
            if f.suffix.lower() in IMAGE_EXTS:
                st = f.stat()
                count, size, mtime = count + 1, size + st.st_size, max(mtime, st.st_mtime_ns)
        text = f"{path}:{count}:{size}:{mtime}"
    return hashlib.sha256(f"{_CACHE_VERSION}:{text}".encode()).hexdigest()[:16]


def decoded_splits(path: Path) -> dict[str, Split]:
    """``{split: (images, labels, classes)}``; split ``""`` for images outside split folders."""
    cache = cache_dir() / "decoded" / f"{source_name(path)}-{_fingerprint(path)}.npz"
    if cache.exists():
        try:
            return _load_cache(cache)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file: decode again
    entries = _archive_entries(path) if path.is_file() else _folder_entries(path)
    splits = _organise(entries, str(path))
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(f".tmp{os.getpid()}.npz")
        arrays = {}
        for i, (key, (x, y, classes)) in enumerate(splits.items()):
            arrays[f"x{i}"] = x.numpy()
            arrays[f"y{i}"] = y
            arrays[f"c{i}"] = np.asarray(classes, dtype=str)
            arrays[f"s{i}"] = np.asarray(key, dtype=str)
        np.savez(tmp, **arrays)
        os.replace(tmp, cache)
    except OSError:
        pass  # read-only cache: decode again next time
    return splits


def _load_cache(cache: Path) -> dict[str, Split]:
    out: dict[str, Split] = {}
    with np.load(cache) as z:
        i = 0
        while f"x{i}" in z:
            out[str(z[f"s{i}"])] = (
                torch.from_numpy(z[f"x{i}"].copy()),
                z[f"y{i}"].copy(),
                [str(c) for c in z[f"c{i}"]],
            )
            i += 1
    if not out:
        raise ValueError("empty cache")
    return out


def _decode_image(data: bytes | Path, where: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise ConfigError(
            f"image {where!r} cannot be decoded ({exc}); remove or replace the file"
        ) from None


def _folder_entries(folder: Path) -> list[tuple[tuple[str, ...], np.ndarray]]:
    out = []
    for f in sorted(folder.rglob("*")):
        if f.suffix.lower() in IMAGE_EXTS and f.is_file():
            rel = f.relative_to(folder).parts
            if any(p.startswith(".") for p in rel):
                continue
            out.append((rel, _decode_image(f, str(f))))
    return out


def _archive_entries(archive: Path) -> list[tuple[tuple[str, ...], np.ndarray]]:
    out = []
    try:
        with tarfile.open(archive, "r|*") as tar:
            for member in tar:
                if not member.isfile():
                    continue
                parts = tuple(p for p in member.name.split("/") if p not in ("", "."))
                if not parts or Path(parts[-1]).suffix.lower() not in IMAGE_EXTS:
                    continue
                if any(p.startswith(".") or p == ".." for p in parts):
                    continue
                fh = tar.extractfile(member)
                if fh is None:
                    continue
                out.append((parts, _decode_image(fh.read(), f"{archive}:{member.name}")))
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ConfigError(f"dataset archive {str(archive)!r} cannot be read: {exc}") from None
    return out


def _organise(entries, source: str) -> dict[str, Split]:
    """Group decoded images by split folder and class folder (the image's parent)."""
    if not entries:
        raise ConfigError(
            f"dataset {source!r} has no images in ImageFolder layout "
            "(<class>/<image>.jpg, optionally under train/ and val/)"
        )
    entries = sorted(entries, key=lambda e: e[0])
    known = {s for s in TRAIN_SPLITS + VAL_SPLITS}
    groups: dict[str, list[tuple[str, np.ndarray]]] = {}
    for parts, img in entries:
        if len(parts) < 2:
            continue  # an image outside any class folder
        split = next((p.lower() for p in parts[:-2] if p.lower() in known), "")
        groups.setdefault(split, []).append((parts[-2], img))
    if not groups:
        raise ConfigError(
            f"dataset {source!r} has images but no class folders (<class>/<image>.jpg)"
        )
    sizes = Counter(img.shape[:2] for _, img in entries)
    size = sizes.most_common(1)[0][0]
    out: dict[str, Split] = {}
    for split, items in groups.items():
        classes = sorted({c for c, _ in items})
        index = {c: i for i, c in enumerate(classes)}
        arrays = [img if img.shape[:2] == size else _resize_np(img, size) for _, img in items]
        x = torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())
        y = np.asarray([index[c] for c, _ in items], dtype=np.int64)
        out[split] = (x, y, classes)
    return out


def _resize_np(img: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.fromarray(img).resize((size[1], size[0]), Image.BILINEAR))
