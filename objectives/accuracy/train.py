"""Proxy training: train a built candidate on real data and report validation accuracy.

Data is decoded once to uint8 tensors (see :mod:`.data`) and moved to the training device
once; resizing to the training resolution, per-image random crop, flip and cutout, mixup /
cutmix (timm's ``Mixup``) and normalisation run batched on that device (:mod:`.augment`), so
loading is never the bottleneck (timm's per-image PIL transforms would be). Optimiser and
schedule come from timm (:mod:`.optim`); the loop is in :mod:`.loop`, the config's checks in
:mod:`.train_checks`, ``cap_stride`` and ``required_multiple`` in :mod:`.resolution`. Their
public names are importable from here too.

ImageNet-style candidates at low resolution: ``max_stride`` caps a candidate's total
downsampling by dropping strides from its first strided stages (the stem first), the usual
CIFAR adaptation of ImageNet networks (a ResNet-18 with a stride-1 stem and no max-pool).
At 32 px, ``max_stride=8`` leaves a 4×4 map before pooling, the compute of the unchanged
network at 128 px. The latency objective still measures the candidate as it is.

A run that diverges (non-finite loss) raises :class:`~accelsearch.errors.EvaluationError`,
which fails that trial with its reason while the search goes on.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
from torch import nn

from accelsearch.core.arch import Arch
from accelsearch.core.builder import build_model
from accelsearch.core.errors import ConfigError, EvaluationError
from accelsearch.core.kinds import check_fields
from accelsearch.objectives.accuracy.augment import cutout, prepare_batch, random_crop
from accelsearch.objectives.accuracy.base import AccuracyEvaluator, Report
from accelsearch.objectives.accuracy.data import ImageData, load_dataset
from accelsearch.objectives.accuracy.loop import (
    Feed,
    LossGuard,
    make_stepper,
    run_epochs,
    train_batch_size,
)
from accelsearch.objectives.accuracy.optim import scale_head_lr, zero_classifier
from accelsearch.objectives.accuracy.resolution import cap_stride, required_multiple
from accelsearch.objectives.accuracy.train_checks import AUGMENTS, SCHEDULERS, check_config

_DATA_CACHE: dict[tuple, ImageData] = {}
_DEVICE_CACHE: dict[tuple, dict[str, torch.Tensor]] = {}
RETRY_SEED_STEP = 10_007  # a retried run's seed: seed + this × attempt (clear of seeds 0..n)

__all__ = [
    "AUGMENTS",
    "SCHEDULERS",
    "TrainConfig",
    "TrainEvaluator",
    "cap_stride",
    "cutout",
    "random_crop",
    "required_multiple",
    "scale_head_lr",
    "timed_evaluate",
    "train_resolution",
    "zero_classifier",
]


@dataclass
class TrainConfig:
    """Everything that decides a proxy-training run (all of it is logged).

    ``scheduler``: ``cosine`` (default), ``linear`` / ``onecycle`` (linear warm-up then linear
    decay: a one-cycle schedule), ``step`` (×0.1 at 50 % and 75 %), ``constant``; all with
    ``warmup_epochs`` (fractions allowed) of linear warm-up from ``lr × min_lr_ratio``.
    ``augment``: any of ``crop`` (pad by ``res/8``, reflect, per-image random crop),
    ``flip``, ``cutout`` (one ``res/4`` square per image).
    """

    dataset: str = "digits"
    val_dataset: str | None = None  # separate validation source (folder or archive)
    data_root: str | None = None  # for "torchvision:NAME"
    epochs: int = 3
    batch_size: int = 64
    eval_batch_size: int | None = None  # None: max(2 × batch_size, 256)
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    scheduler: str = "cosine"
    warmup_epochs: float = 0.0
    min_lr_ratio: float = 0.01
    label_smoothing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    clip_grad: float | None = None
    # a run whose epoch train loss rises above its lowest so far by more than this fraction
    # is unstable (a loss spike mid-schedule); it is recorded in ``last_run["unstable"]`` and,
    # with ``retry_unstable: k``, stopped and trained again from scratch on another seed (up
    # to k times), keeping the first stable run. Measured on 103 H100 proxy trainings: the 3
    # that ended > 5 points below the same arch's other seed rose 6.5-61 %; the rest <= 0.2 %.
    unstable_loss_rise: float = 0.03
    retry_unstable: int = 0
    zero_init_head: bool = True  # start the classifier at zero (logits 0, loss ln(classes))
    # classifier lr × head_lr_width / its fan-in when wider (µP's output-layer rule): a step
    # moves the logits by ~lr × |features|², so 2,048 features overshoot where 512 do not
    head_lr_width: int | None = None
    augment: Sequence[str] = field(default_factory=lambda: ("crop", "flip"))
    resolution: int | None = None  # None: the arch's own resolution (or resolution_scale)
    resolution_scale: float | None = None  # train at this fraction of each arch's resolution
    resolution_multiple: int = 4  # resolution_scale rounds to a multiple of this (and the arch's)
    max_stride: int | None = None  # cap on the candidate's total downsampling
    data_fraction: float = 1.0
    val_fraction: float = 0.2
    val_limit: int | None = None  # evaluate on this many validation images (seeded subset)
    seed: int = 0  # initialisation, batch order, augmentation
    split_seed: int = 0  # train/val split and data_fraction subset (same for every seed)
    device: str = "auto"
    amp: str | None = None  # None, "bf16" or "fp16" (CUDA only)
    channels_last: bool | None = None  # None: on for CUDA
    compile: bool = False  # torch.compile the model (CUDA; costs seconds per candidate)
    deterministic: bool = False  # cuDNN deterministic kernels (slower); seeding is always on
    threads: int | None = None  # CPU threads (None: PyTorch's default)
    check_every: int = 20  # steps between finite-loss checks on CUDA (each one syncs)

    def __post_init__(self) -> None:
        check_fields(self, "accuracy.options")  # kinds first: the checks below compare
        check_config(self)


def train_resolution(arch: Arch, config: TrainConfig) -> int:
    """The resolution ``arch`` is proxy-trained at under ``config``.

    ``resolution`` fixes it for every arch; ``resolution_scale`` makes it follow the arch's
    own (``round(arch.resolution × scale)``), so a member grown in resolution is trained on
    larger images, as it would be on the full task. The result is a multiple of
    ``resolution_multiple`` and of what the arch's structure needs (an n×n stride-n
    space-to-depth conv needs its input divisible by n), and at least 8 px.
    """
    if config.resolution is not None:
        return config.resolution
    if config.resolution_scale is None:
        return arch.resolution
    step = math.lcm(config.resolution_multiple, required_multiple(arch))
    res = max(1, round(arch.resolution * config.resolution_scale / step)) * step
    while res < 8:
        res += step
    return res


class TrainEvaluator(AccuracyEvaluator):
    """Trains each candidate from scratch for ``epochs`` and reports accuracy per epoch.

    After each :meth:`evaluate`, :attr:`last_run` holds the per-epoch accuracies and
    training losses, the seconds spent training and evaluating, and images per second.
    """

    name = "train"

    def __init__(self, config: TrainConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ConfigError("give TrainEvaluator either a TrainConfig or keyword options")
        valid = {f.name for f in fields(TrainConfig)}
        unknown = sorted(set(kwargs) - valid)
        if unknown:  # a TypeError from TrainConfig would not say which options there are
            raise ConfigError(
                f"accuracy.options has {unknown}, which evaluator 'train' does not take; "
                f"valid options: {', '.join(sorted(valid))}"
            )
        self.config = config or TrainConfig(**kwargs)
        self._data: ImageData | None = None
        self.last_run: dict[str, Any] = {}

    @classmethod
    def option_names(cls) -> list[str]:
        """The keyword options it takes: ``config`` or the fields of :class:`TrainConfig`."""
        return ["config", *(f.name for f in dataclasses.fields(TrainConfig))]

    def describe(self) -> str:
        c = self.config
        return (
            f"train({c.dataset}, {c.epochs} epochs, {c.optimizer}/{c.scheduler}, lr {c.lr}, "
            f"bs {c.batch_size})"
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    def prepare(self) -> None:
        self.data()

    # -- data ------------------------------------------------------------------------------
    def _data_key(self) -> tuple:
        c = self.config
        return (c.dataset, c.val_dataset, c.data_root, c.val_fraction, c.split_seed)

    def data(self) -> ImageData:
        """The decoded dataset (loaded once per process and shared by evaluators)."""
        if self._data is None:
            c = self.config
            key = self._data_key()
            if key not in _DATA_CACHE:
                _DATA_CACHE[key] = load_dataset(
                    c.dataset, c.val_fraction, c.split_seed, val=c.val_dataset, root=c.data_root
                )
            self._data = _DATA_CACHE[key]
        return self._data

    def device(self) -> torch.device:
        dev = self.config.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        if dev.startswith("cuda") and not torch.cuda.is_available():
            raise EvaluationError(
                f"accuracy.device is {dev!r} but CUDA is not available here; use 'auto' or 'cpu'"
            )
        return torch.device(dev)

    def _tensors(self, device: torch.device) -> dict[str, torch.Tensor]:
        """Train/val tensors on ``device`` (moved once per process, shared by evaluators)."""
        c = self.config
        key = (*self._data_key(), c.data_fraction, c.val_limit, str(device))
        if key not in _DEVICE_CACHE:
            d = self.data()
            tx, ty = _subset(d.train_x, d.train_y, c.data_fraction, c.split_seed)
            vx, vy = d.val_x, d.val_y
            if c.val_limit is not None and c.val_limit < len(vy):
                vx, vy = _subset(vx, vy, c.val_limit / len(vy), c.split_seed + 1)
            for other in [k for k in _DEVICE_CACHE if k[-1] == str(device)]:
                del _DEVICE_CACHE[other]  # one dataset per device at a time
            mean, std = d.mean_std()
            _DEVICE_CACHE[key] = {
                "train_x": tx.to(device),
                "train_y": ty.to(device),
                "val_x": vx.to(device),
                "val_y": vy.to(device),
                "mean": torch.tensor(mean, device=device).view(1, -1, 1, 1),
                "std": torch.tensor(std, device=device).view(1, -1, 1, 1),
            }
        return _DEVICE_CACHE[key]

    # -- training --------------------------------------------------------------------------
    def evaluate(
        self, arch: Arch, report: Report | None = None, model: nn.Module | None = None
    ) -> float:
        """Train ``arch`` (or the given ``model`` of it) and return final val accuracy (%)."""
        c = self.config
        data = self.data()
        # built at the resolution it trains at (a timm model of fixed input size needs it)
        train_arch = cap_stride(arch, c.max_stride).replace(resolution=train_resolution(arch, c))
        device = self.device()
        threads_before = torch.get_num_threads()
        np_state = np.random.get_state()
        cudnn = torch.backends.cudnn
        flags = (cudnn.benchmark, cudnn.deterministic)
        try:
            if c.threads and device.type == "cpu":
                torch.set_num_threads(c.threads)
            if device.type == "cuda":
                cudnn.benchmark, cudnn.deterministic = not c.deterministic, c.deterministic
            if model is not None and c.max_stride is not None:
                raise ConfigError(
                    "accuracy.max_stride rebuilds the candidate, so it cannot be used with a "
                    "ready-made model; pass the arch only"
                )
            return self._train_stable(model, train_arch, data, device, report)
        finally:
            torch.set_num_threads(threads_before)
            np.random.set_state(np_state)
            cudnn.benchmark, cudnn.deterministic = flags

    def _train_stable(self, model, arch, data, device, report) -> float:
        """Train; an unstable run is trained again on another seed while retries are left
        (a given ``model`` is trained once: it cannot be rebuilt)."""
        c = self.config
        attempts = 1 + (c.retry_unstable if model is None else 0)
        unstable_runs = []
        for attempt in range(attempts):
            seed = c.seed + RETRY_SEED_STEP * attempt
            torch.manual_seed(seed)
            np.random.seed(seed)  # timm's Mixup draws from numpy's global generator
            run_model = model if model is not None else build_model(arch, data.num_classes)
            if c.zero_init_head:
                zero_classifier(run_model)
            last = attempt == attempts - 1
            acc = self._train(run_model, arch, data, device, report, seed, stop_unstable=not last)
            if "unstable" not in self.last_run or last:
                break
            unstable_runs.append({"seed": seed, **self.last_run["unstable"]})
        self.last_run["seed"] = seed
        self.last_run["unstable_runs"] = unstable_runs
        return acc

    def _train(self, model, arch, data, device, report, seed, stop_unstable=False) -> float:
        c = self.config
        t = self._tensors(device)
        if data.in_chans not in (arch.in_chans, 1):
            raise EvaluationError(
                f"dataset images have {data.in_chans} channel(s) but the arch takes "
                f"{arch.in_chans}; use a dataset with {arch.in_chans}-channel images"
            )
        cl = c.channels_last if c.channels_last is not None else device.type == "cuda"
        fmt = torch.channels_last if cl else torch.contiguous_format
        model = model.to(device=device, memory_format=fmt)
        bs = train_batch_size(c, data, len(t["train_y"]))
        # the train arch is already at its training resolution
        feed = Feed(t, arch.resolution, arch.in_chans, fmt, tuple(c.augment), bs)
        stepper = make_stepper(model, c, device, data, feed.steps_per_epoch)
        self.last_run = {
            "epochs": [],
            "accuracy": [],
            "train_loss": [],
            "val_loss": [],
            "train_s": 0.0,
            "eval_s": 0.0,
            "images": 0,
            "train_resolution": arch.resolution,
            "train_arch": str(arch),
            "device": str(device),
        }
        guard = LossGuard(c.unstable_loss_rise, stop=stop_unstable)
        return run_epochs(stepper, feed, c, device, report, self.last_run, seed, guard)

    def _prepare(self, x_u8, t, res, in_chans, train, fmt):
        """A batch of model input (``train``: augmented); benchmarks/ time steps with it."""
        return prepare_batch(x_u8, t, res, in_chans, fmt, self.config.augment if train else ())


def _subset(x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int):
    """A seeded random ``fraction`` of the images (in their original order)."""
    n = len(y)
    keep = max(1, int(round(n * fraction)))
    if keep >= n:
        return x, y
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:keep].sort().values
    return x[idx], y[idx]


def timed_evaluate(evaluator: AccuracyEvaluator, arch: Arch, report: Report | None = None):
    """(accuracy, seconds) for one evaluation."""
    t0 = time.perf_counter()
    acc = evaluator.evaluate(arch, report)
    return acc, time.perf_counter() - t0
