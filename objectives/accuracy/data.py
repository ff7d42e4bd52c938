"""Image data for accuracy evaluators, decoded once into uint8 tensors.

Sources (``load_dataset(spec, val=None, root=None)``):

* ``"digits"``: scikit-learn's bundled 8×8 handwritten digits (1,797 images, 10 classes),
  shipped with the installation, so the quickstart runs offline on a fresh machine;
* a folder in ImageFolder layout (``<class>/<image>``), or with ``train/`` and ``val/`` (or
  ``validation/``, ``test/``) sub-folders of that layout;
* an archive of such a folder (``.tar.gz``, ``.tgz``, ``.tar``, ``.tar.xz``, ``.tar.bz2``),
  decoded straight from the archive stream (nothing is extracted);
* ``"torchvision:NAME"`` with ``root``: a torchvision dataset class (``CIFAR10``, ``MNIST``,
  ``SVHN``, ...) already downloaded under ``root`` (nothing is downloaded).

``val`` names a separate validation source (a folder or archive of ``<class>/<image>``, or
with one split folder such as ``test/<class>/<image>``): CIFAR-10's JPEG copy ships its
train and test sets as two archives. Without ``val``, a source's own ``val``/``test`` split
is used, and a source without one is split (``val_fraction``, seeded).

Images are decoded once into a ``uint8`` tensor ``N×C×H×W`` and cached as ``.npz`` in
:func:`cache_dir` (keyed by the source's path, size and modification time), so the next
process reads one file; folders and archives are read and cached by :mod:`.imagefolder`. Resizing, augmentation and normalisation happen later, batched, on
the training device (see :mod:`.train`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from accelsearch.core.errors import ConfigError, short_repr
from accelsearch.objectives.accuracy.imagefolder import ARCHIVE_SUFFIXES as ARCHIVE_SUFFIXES
from accelsearch.objectives.accuracy.imagefolder import IMAGE_EXTS as IMAGE_EXTS
from accelsearch.objectives.accuracy.imagefolder import TRAIN_SPLITS as TRAIN_SPLITS
from accelsearch.objectives.accuracy.imagefolder import VAL_SPLITS as VAL_SPLITS
from accelsearch.objectives.accuracy.imagefolder import Split as Split
from accelsearch.objectives.accuracy.imagefolder import cache_dir as cache_dir
from accelsearch.objectives.accuracy.imagefolder import decoded_splits, source_name


@dataclass
class ImageData:
    """Train and validation images (uint8, N×C×H×W) with integer labels."""

    name: str
    train_x: torch.Tensor
    train_y: torch.Tensor
    val_x: torch.Tensor
    val_y: torch.Tensor
    classes: list[str]
    _stats: tuple[tuple[float, ...], tuple[float, ...]] | None = field(default=None, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_chans(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> tuple[int, int]:
        return int(self.train_x.shape[-2]), int(self.train_x.shape[-1])

    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel mean and standard deviation of the training images (in [0, 1]),
        estimated on up to 10,000 of them; used to normalise batches."""
        if self._stats is None:
            x = self.train_x[:10_000].to(torch.float64).div_(255.0)
            mean = x.mean(dim=(0, 2, 3))
            std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
            self._stats = (tuple(float(v) for v in mean), tuple(float(v) for v in std))
        return self._stats

    def summary(self) -> str:
        h, w = self.image_size
        return (
            f"{self.name}: {len(self.train_y)} train / {len(self.val_y)} val images, "
            f"{self.num_classes} classes, {self.in_chans}×{h}×{w}"
        )


def is_archive(path: str | os.PathLike) -> bool:
    return str(path).lower().endswith(ARCHIVE_SUFFIXES)


def check_source(spec: str | os.PathLike, what: str = "dataset") -> None:
    """Cheap check (no decoding) that ``spec`` names a source that can exist; raises
    :class:`ConfigError` naming the forms that are accepted."""
    text = str(spec)
    if text == "digits" or text.startswith("torchvision:"):
        return
    path = Path(text).expanduser()
    try:
        exists = path.exists()
    except OSError as exc:  # a name longer than the file system allows, ...
        raise ConfigError(
            f"{what} {short_repr(text, 80)} cannot be a path ({exc.strerror})"
        ) from None
    if not exists:
        raise ConfigError(
            f"{what} {text!r} does not exist; use 'digits' (bundled), an ImageFolder "
            "directory, an archive of one (.tar.gz/.tgz/.tar) or 'torchvision:NAME' with a root"
        )
    if path.is_file() and not is_archive(path):
        raise ConfigError(
            f"{what} {text!r} is a file but not a tar archive ({', '.join(ARCHIVE_SUFFIXES)})"
        )


def load_dataset(
    spec: str | os.PathLike,
    val_fraction: float = 0.2,
    seed: int = 0,
    *,
    val: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
) -> ImageData:
    """Load ``spec`` (see the module docstring); ``val`` is a separate validation source;
    ``val_fraction`` of the training images is split off when there is no validation
    split at all."""
    text = str(spec)
    if text == "digits":
        if val is not None:
            raise ConfigError("dataset 'digits' has no separate validation source; drop val")
        return _digits(val_fraction, seed)
    if text.startswith("torchvision:"):
        return _torchvision(text.split(":", 1)[1], root, val_fraction, seed, val)
    check_source(text)
    splits = decoded_splits(Path(text).expanduser())
    name = source_name(Path(text))
    if val is not None:
        check_source(val, "validation dataset")
        val_splits = decoded_splits(Path(str(val)).expanduser())
        vkey = _pick(val_splits, VAL_SPLITS + ("", *TRAIN_SPLITS), str(val))
        tkey = _pick(splits, TRAIN_SPLITS + ("",), text, fallback_any=True)
        return _assemble(name, splits[tkey], val_splits[vkey], text, str(val))
    tkey = next((k for k in TRAIN_SPLITS if k in splits), None)
    vkey = next((k for k in VAL_SPLITS if k in splits), None)
    if tkey is not None and vkey is not None:
        return _assemble(name, splits[tkey], splits[vkey], text, text)
    key = tkey or ("" if "" in splits else next(iter(splits)))
    x, labels, classes = splits[key]
    _check_classes(text, classes, labels)
    tx, ty, vx, vy = _split(x, torch.from_numpy(labels), val_fraction, seed)
    return ImageData(name, tx, ty, vx, vy, classes)


# -- sources ------------------------------------------------------------------------------
def _pick(splits: dict[str, Split], order, source: str, fallback_any: bool = False) -> str:
    for key in order:
        if key in splits:
            return key
    if fallback_any and len(splits) == 1:
        return next(iter(splits))
    raise ConfigError(
        f"dataset {source!r} has split folders {sorted(splits)} but none of {list(order)}"
    )


def _split(x: torch.Tensor, y: torch.Tensor, val_fraction: float, seed: int):
    if not 0 < val_fraction < 1:
        raise ConfigError(f"val_fraction must be in (0, 1), got {val_fraction}")
    perm = np.random.default_rng(seed).permutation(len(y))
    n_val = max(1, int(round(len(y) * val_fraction)))
    if n_val >= len(y):
        raise ConfigError(f"dataset has {len(y)} image(s): too few to split off validation ones")
    val, train = perm[:n_val], perm[n_val:]
    return x[train], y[train], x[val], y[val]


def _assemble(name: str, train: Split, val: Split, tsrc: str, vsrc: str) -> ImageData:
    tx, tlab, classes = train
    vx, vlab, vclasses = val
    _check_classes(tsrc, classes, tlab)
    extra = sorted(set(vclasses) - set(classes))
    if extra:
        raise ConfigError(
            f"validation data {vsrc!r} has class folder(s) {extra[:5]} that the training "
            f"data {tsrc!r} lacks ({len(vclasses)} vs {len(classes)} classes); both must use "
            "the same class folders"
        )
    remap = np.asarray([classes.index(c) for c in vclasses], dtype=np.int64)
    vy = torch.from_numpy(remap[vlab]) if len(vlab) else torch.zeros(0, dtype=torch.int64)
    if len(vy) == 0:
        raise ConfigError(f"validation data {vsrc!r} has no images")
    if tuple(tx.shape[1:]) != tuple(vx.shape[1:]):
        vx = _resize_u8(vx, tx.shape[-2:])
        if vx.shape[1] != tx.shape[1]:
            raise ConfigError(
                f"training images have {tx.shape[1]} channel(s), validation images {vx.shape[1]}"
            )
    return ImageData(name, tx, torch.from_numpy(tlab), vx, vy, classes)


def _check_classes(source: str, classes: list[str], labels: np.ndarray) -> None:
    if len(labels) == 0 or not classes:
        raise ConfigError(
            f"dataset {source!r} has no images in ImageFolder layout "
            "(<class>/<image>.jpg, optionally under train/ and val/)"
        )
    if len(classes) < 2:
        raise ConfigError(f"dataset {source!r} has only one class folder ({classes[0]!r})")


def _digits(val_fraction: float, seed: int) -> ImageData:
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.from_numpy((d.images * (255.0 / 16.0)).round().astype(np.uint8))[:, None]
    y = torch.from_numpy(d.target.astype(np.int64))
    tx, ty, vx, vy = _split(x, y, val_fraction, seed)
    return ImageData("digits", tx, ty, vx, vy, [str(c) for c in range(10)])


def _resize_u8(x: torch.Tensor, size) -> torch.Tensor:
    import torch.nn.functional as F

    y = F.interpolate(x.float(), size=tuple(int(s) for s in size), mode="bilinear")
    return y.round_().clamp_(0, 255).to(torch.uint8)


# -- torchvision -----------------------------------------------------------------------------
def _torchvision(name: str, root, val_fraction: float, seed: int, val) -> ImageData:
    import inspect

    import torchvision.datasets as tvd

    valid = sorted(n for n, obj in vars(tvd).items() if inspect.isclass(obj) and n[:1].isupper())
    cls = getattr(tvd, name, None)
    if cls is None or not inspect.isclass(cls):
        raise ConfigError(
            f"torchvision has no dataset {name!r}; valid choices include "
            f"{', '.join(v for v in valid if v in _TV_COMMON) or ', '.join(valid[:10])}"
        )
    if root is None:
        raise ConfigError(
            f"dataset 'torchvision:{name}' needs a root folder (accuracy option data_root) "
            "where it is already downloaded; nothing is downloaded"
        )
    if val is not None:
        raise ConfigError("a torchvision dataset brings its own test split; drop val")
    params = inspect.signature(cls).parameters
    try:
        if "train" in params:
            train_ds, val_ds = cls(str(root), train=True), cls(str(root), train=False)
        elif "split" in params:
            train_ds, val_ds = cls(str(root), split="train"), cls(str(root), split="test")
        else:
            train_ds, val_ds = cls(str(root)), None
    except (RuntimeError, OSError, ValueError) as exc:
        raise ConfigError(
            f"torchvision dataset {name!r} cannot be read from {str(root)!r}: {exc} "
            "(download it there first; accelsearch never downloads)"
        ) from None
    tx, ty = _tv_tensors(train_ds, name)
    classes = [str(c) for c in getattr(train_ds, "classes", [])] or [
        str(i) for i in range(int(ty.max()) + 1)
    ]
    if val_ds is None:
        x_tr, y_tr, x_va, y_va = _split(tx, ty, val_fraction, seed)
        return ImageData(name, x_tr, y_tr, x_va, y_va, classes)
    vx, vy = _tv_tensors(val_ds, name)
    return ImageData(name, tx, ty, vx, vy, classes)


_TV_COMMON = ("CIFAR10", "CIFAR100", "MNIST", "FashionMNIST", "KMNIST", "SVHN", "STL10")


def _tv_tensors(ds, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 N×C×H×W images and int64 labels of a torchvision dataset."""
    data = getattr(ds, "data", None)
    labels = getattr(ds, "targets", None)
    if labels is None:
        labels = getattr(ds, "labels", None)
    if data is not None and labels is not None:
        x = torch.as_tensor(np.asarray(data))
        if x.dtype == torch.uint8:
            if x.ndim == 3:  # N×H×W (MNIST)
                x = x[:, None]
            elif x.ndim == 4 and x.shape[-1] in (1, 3) and x.shape[1] not in (1, 3):
                x = x.permute(0, 3, 1, 2)  # N×H×W×C (CIFAR)
            return x.contiguous(), torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    xs, ys = [], []
    for img, label in ds:  # generic path: PIL images
        arr = np.asarray(img, dtype=np.uint8)
        xs.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
        ys.append(int(label))
    if not xs:
        raise ConfigError(f"torchvision dataset {name!r} is empty")
    return torch.from_numpy(np.stack(xs)), torch.tensor(ys, dtype=torch.int64)
