"""Proxy training: train a built candidate on real data and report validation accuracy.

Data is decoded once to uint8 tensors (see :mod:`.data`) and moved to the training device
once; resizing to the training resolution, per-image random crop, flip and cutout, mixup /
cutmix (timm's ``Mixup``) and normalisation run batched on that device, so loading is never
the bottleneck (timm's per-image PIL transforms would be). Optimiser and schedule come from
timm (``create_optimizer_v2``; ``CosineLRScheduler``, ``PolyLRScheduler``,
``StepLRScheduler``, stepped every update).

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
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from accelsearch.arch import Arch
from accelsearch.errors import ConfigError, EvaluationError, choices_text
from accelsearch.kinds import check_fields
from accelsearch.objectives.accuracy.base import AccuracyEvaluator, Report
from accelsearch.objectives.accuracy.data import ImageData, check_source, load_dataset

_DATA_CACHE: dict[tuple, ImageData] = {}
_DEVICE_CACHE: dict[tuple, dict[str, torch.Tensor]] = {}

SCHEDULERS = ("cosine", "linear", "onecycle", "step", "constant")
AUGMENTS = ("crop", "flip", "cutout")
#: stage types whose stride is structural (an n×n stride-n conv); ``max_stride`` skips them
_FIXED_STRIDE_TYPES = {"s2d"}


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
    zero_init_head: bool = True  # start the classifier at zero (logits 0, loss ln(classes))
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

        def need(cond: bool, text: str) -> None:
            if not cond:
                raise ConfigError(text)

        need(self.epochs >= 1, f"accuracy.epochs must be >= 1, got {self.epochs}")
        need(self.batch_size >= 1, f"accuracy.batch_size must be >= 1, got {self.batch_size}")
        need(
            self.eval_batch_size is None or self.eval_batch_size >= 1,
            f"accuracy.eval_batch_size must be >= 1, got {self.eval_batch_size}",
        )
        need(
            0 < self.data_fraction <= 1,
            f"accuracy.data_fraction must be in (0, 1], got {self.data_fraction}",
        )
        need(
            0 < self.val_fraction < 1,
            f"accuracy.val_fraction must be in (0, 1), got {self.val_fraction}",
        )
        need(math.isfinite(self.lr) and self.lr > 0, f"accuracy.lr must be > 0, got {self.lr}")
        need(self.weight_decay >= 0, f"accuracy.weight_decay must be >= 0, got {self.weight_decay}")
        need(
            0 <= self.label_smoothing < 1,
            f"accuracy.label_smoothing must be in [0, 1), got {self.label_smoothing}",
        )
        need(self.mixup >= 0 and self.cutmix >= 0, "accuracy.mixup and cutmix must be >= 0")
        need(
            0 <= self.min_lr_ratio <= 1,
            f"accuracy.min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}",
        )
        need(
            self.warmup_epochs >= 0,
            f"accuracy.warmup_epochs must be >= 0, got {self.warmup_epochs}",
        )
        need(
            self.clip_grad is None or self.clip_grad > 0,
            f"accuracy.clip_grad must be > 0 or None, got {self.clip_grad}",
        )
        need(
            self.resolution is None or self.resolution >= 8,
            f"accuracy.resolution must be >= 8 or None, got {self.resolution}",
        )
        need(
            self.resolution_scale is None
            or (math.isfinite(self.resolution_scale) and 0 < self.resolution_scale <= 4),
            f"accuracy.resolution_scale must be in (0, 4] or None, got {self.resolution_scale}",
        )
        need(
            self.resolution is None or self.resolution_scale is None,
            "accuracy.resolution and accuracy.resolution_scale are both set; a fixed resolution "
            f"({self.resolution}) or one that follows each arch's ({self.resolution_scale}), "
            "not both: drop one of them",
        )
        need(
            self.resolution_multiple >= 1,
            f"accuracy.resolution_multiple must be >= 1, got {self.resolution_multiple}",
        )
        need(
            self.max_stride is None or self.max_stride >= 1,
            f"accuracy.max_stride must be >= 1 or None, got {self.max_stride}",
        )
        need(
            self.val_limit is None or self.val_limit >= 1,
            f"accuracy.val_limit must be >= 1 or None, got {self.val_limit}",
        )
        need(self.check_every >= 1, f"accuracy.check_every must be >= 1, got {self.check_every}")
        if self.amp not in (None, "bf16", "fp16"):
            raise ConfigError(f"accuracy.amp is {self.amp!r}; valid: None, 'bf16', 'fp16'")
        if self.scheduler not in SCHEDULERS:
            raise ConfigError(
                f"accuracy.scheduler is {self.scheduler!r}; valid choices: "
                f"{choices_text(SCHEDULERS)}"
            )
        if isinstance(self.augment, str):
            self.augment = (self.augment,)
        bad = [a for a in self.augment if a not in AUGMENTS]
        if bad:
            raise ConfigError(
                f"accuracy.augment has {bad}; valid choices: {choices_text(AUGMENTS)}"
            )
        self.augment = tuple(self.augment)
        from timm.optim import list_optimizers

        if self.optimizer.lower() not in list_optimizers():
            raise ConfigError(
                f"accuracy.optimizer {self.optimizer!r} is not one of timm's optimizers; "
                "common choices: 'sgd', 'momentum', 'adamw', 'lamb', 'lion'"
            )
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            raise ConfigError(
                f"accuracy.device is {self.device!r}; valid: 'auto', 'cpu', 'cuda[:N]'"
            )
        check_source(self.dataset)
        if self.val_dataset is not None:
            check_source(self.val_dataset, "validation dataset")


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


def required_multiple(arch: Arch) -> int:
    """Input sizes ``arch`` accepts are multiples of this (1 for most archs).

    An unpadded space-to-depth conv (type ``s2d``, kernel = stride = n) needs its input map
    divisible by n, i.e. the image divisible by n × the strides before it.
    """
    need, before = 1, 1
    units = ([arch.stem] if arch.stem is not None else []) + list(arch.stages)
    for st in units:
        if st.type in _FIXED_STRIDE_TYPES and st.depth > 0:
            need = math.lcm(need, before * st.stride)
        if st.depth > 0:
            before *= st.stride
    return need


def cap_stride(arch: Arch, max_stride: int | None) -> Arch:
    """``arch`` with its total downsampling capped at ``max_stride``.

    Strides are removed from the first strided stages (the stem first) until the product
    of strides is at most ``max_stride``. Space-to-depth stages keep their stride (their
    kernel must equal it); stages of depth 0 have no blocks and do not count.
    """
    if max_stride is None:
        return arch
    units = [("stem", arch.stem)] if arch.stem is not None else []
    units += [(i, st) for i, st in enumerate(arch.stages) if st.depth > 0]
    total = math.prod(st.stride for _, st in units)
    stem, stages = arch.stem, list(arch.stages)
    for key, st in units:
        if total <= max_stride:
            break
        if st.stride <= 1 or st.type in _FIXED_STRIDE_TYPES:
            continue
        rest = total // st.stride
        new = st.stride
        while new > 1 and rest * new > max_stride:
            new = new // 2 if new % 2 == 0 else 1
        total = rest * new
        changed = dataclasses.replace(st, stride=new)
        if key == "stem":
            stem = changed
        else:
            stages[key] = changed
    return arch.replace(stem=stem, stages=tuple(stages))


class TrainEvaluator(AccuracyEvaluator):
    """Trains each candidate from scratch for ``epochs`` and reports accuracy per epoch.

    After each :meth:`evaluate`, :attr:`last_run` holds the per-epoch accuracies and
    training losses, the seconds spent training and evaluating, and images per second.
    """

    name = "train"

    def __init__(self, config: TrainConfig | None = None, **kwargs: Any) -> None:
        if config is not None and kwargs:
            raise ConfigError("give TrainEvaluator either a TrainConfig or keyword options")
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
            torch.manual_seed(c.seed)
            np.random.seed(c.seed)  # timm's Mixup draws from numpy's global generator
            if device.type == "cuda":
                cudnn.benchmark, cudnn.deterministic = not c.deterministic, c.deterministic
            if model is None:
                from accelsearch.builder import build_model

                model = build_model(train_arch, num_classes=data.num_classes)
            elif c.max_stride is not None:
                raise ConfigError(
                    "accuracy.max_stride rebuilds the candidate, so it cannot be used with a "
                    "ready-made model; pass the arch only"
                )
            if c.zero_init_head:
                zero_classifier(model)
            return self._train(model, train_arch, data, device, report)
        finally:
            torch.set_num_threads(threads_before)
            np.random.set_state(np_state)
            cudnn.benchmark, cudnn.deterministic = flags

    def _train(self, model, arch, data, device, report) -> float:
        from timm.optim import create_optimizer_v2

        c = self.config
        t = self._tensors(device)
        res = arch.resolution  # the train arch is already at its training resolution
        if data.in_chans not in (arch.in_chans, 1):
            raise EvaluationError(
                f"dataset images have {data.in_chans} channel(s) but the arch takes "
                f"{arch.in_chans}; use a dataset with {arch.in_chans}-channel images"
            )
        cl = c.channels_last if c.channels_last is not None else device.type == "cuda"
        fmt = torch.channels_last if cl else torch.contiguous_format
        model = model.to(device=device, memory_format=fmt)
        n = len(t["train_y"])
        bs = min(c.batch_size, n)
        if (c.mixup or c.cutmix) and bs % 2:
            bs -= 1
        if bs < 2:
            raise ConfigError(
                f"dataset {data.name!r} leaves {n} training image(s) after data_fraction="
                f"{c.data_fraction}; proxy training needs at least 2 per batch"
            )
        steps_per_epoch = n // bs
        total = steps_per_epoch * c.epochs
        opt_kwargs = (
            {"momentum": c.momentum} if c.optimizer in ("sgd", "momentum", "nesterov") else {}
        )
        optimizer = create_optimizer_v2(
            model, opt=c.optimizer, lr=c.lr, weight_decay=c.weight_decay, **opt_kwargs
        )
        sched = self._scheduler(optimizer, total, int(round(c.warmup_epochs * steps_per_epoch)))
        mixup = None
        if c.mixup > 0 or c.cutmix > 0:
            from timm.data import Mixup
            from timm.loss import SoftTargetCrossEntropy

            mixup = Mixup(
                mixup_alpha=c.mixup,
                cutmix_alpha=c.cutmix,
                label_smoothing=c.label_smoothing,
                num_classes=data.num_classes,
            )
            loss_fn: nn.Module = SoftTargetCrossEntropy()
        else:
            loss_fn = nn.CrossEntropyLoss(label_smoothing=c.label_smoothing)
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(c.amp or "")
        use_amp = amp_dtype is not None and device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None
        step_model = model
        if c.compile and device.type == "cuda":
            step_model = torch.compile(model)
        check_every = c.check_every if device.type == "cuda" else 1
        g = torch.Generator(device="cpu").manual_seed(c.seed)
        run: dict[str, Any] = {
            "epochs": [],
            "accuracy": [],
            "train_loss": [],
            "val_loss": [],
            "train_s": 0.0,
            "eval_s": 0.0,
            "images": 0,
            "train_resolution": res,
            "train_arch": str(arch),
            "device": str(device),
        }
        self.last_run = run
        acc = 0.0
        updates = 0
        self._sync(device)
        for epoch in range(c.epochs):
            t0 = time.perf_counter()
            model.train()
            loss_sum = torch.zeros((), device=device)
            perm = torch.randperm(n, generator=g).to(device)
            for s in range(steps_per_epoch):
                idx = perm[s * bs : (s + 1) * bs]
                x = self._prepare(t["train_x"][idx], t, res, arch.in_chans, True, fmt)
                y = t["train_y"][idx]
                if mixup is not None:
                    x, y = mixup(x, y)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    logits = step_model(x)
                    if updates == 0:
                        self._check_outputs(logits, data)
                    loss = loss_fn(logits.float(), y)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    if c.clip_grad:
                        scaler.unscale_(optimizer)
                        nn.utils.clip_grad_norm_(model.parameters(), c.clip_grad)
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    if c.clip_grad:
                        nn.utils.clip_grad_norm_(model.parameters(), c.clip_grad)
                    optimizer.step()
                loss_sum += loss.detach()
                updates += 1
                sched.step_update(updates)
                if updates % check_every == 0 or s == steps_per_epoch - 1:
                    self._check_finite(loss_sum, epoch, s)
            self._sync(device)
            t1 = time.perf_counter()
            acc, val_loss = self._accuracy(
                step_model, t, res, arch.in_chans, fmt, amp_dtype if use_amp else None
            )
            t2 = time.perf_counter()
            run["train_s"] += t1 - t0
            run["eval_s"] += t2 - t1
            run["images"] += steps_per_epoch * bs
            run["epochs"].append(epoch + 1)
            run["accuracy"].append(acc)
            run["train_loss"].append(float(loss_sum) / steps_per_epoch)
            run["val_loss"].append(val_loss)
            if report is not None:
                report(epoch + 1, acc)
        run["images_per_s"] = run["images"] / max(run["train_s"], 1e-9)
        return acc

    def _scheduler(self, optimizer, total: int, warmup: int):
        from timm.scheduler import CosineLRScheduler, PolyLRScheduler, StepLRScheduler

        c = self.config
        common = dict(
            warmup_t=warmup, warmup_lr_init=c.lr * max(c.min_lr_ratio, 1e-3), t_in_epochs=False
        )
        if c.scheduler == "cosine":
            return CosineLRScheduler(
                optimizer, t_initial=total, lr_min=c.lr * c.min_lr_ratio, **common
            )
        if c.scheduler in ("linear", "onecycle"):
            return PolyLRScheduler(
                optimizer, t_initial=total, power=1.0, lr_min=c.lr * c.min_lr_ratio, **common
            )
        if c.scheduler == "step":
            return _MultiStep(optimizer, [int(total * 0.5), int(total * 0.75)], **common)
        return StepLRScheduler(optimizer, decay_t=total + 1, decay_rate=1.0, **common)

    @staticmethod
    def _sync(device: torch.device) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    @staticmethod
    def _check_outputs(logits: torch.Tensor, data: ImageData) -> None:
        if logits.ndim != 2 or logits.shape[1] != data.num_classes:
            outputs = logits.shape[1] if logits.ndim == 2 else tuple(logits.shape[1:])
            raise EvaluationError(
                f"model has {outputs} outputs but dataset {data.name!r} has "
                f"{data.num_classes} classes; build it with num_classes={data.num_classes}"
            )

    @staticmethod
    def _check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
        value = float(loss_sum)
        if not math.isfinite(value):
            raise EvaluationError(
                f"training diverged: loss became {value} by epoch {epoch + 1}, step {step + 1}; "
                "the candidate is recorded as failed (lower accuracy.lr, add warmup_epochs or "
                "clip_grad to train it)"
            )

    def _prepare(self, x_u8, t, res, in_chans, train, fmt):
        x = x_u8.float().div_(255.0)
        if x.shape[-1] != res or x.shape[-2] != res:
            x = F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False)
        x = (x - t["mean"]) / t["std"]
        if x.shape[1] != in_chans:
            if x.shape[1] == 1:
                x = x.expand(-1, in_chans, -1, -1)
            else:
                raise EvaluationError(
                    f"dataset images have {x.shape[1]} channels but the arch takes {in_chans}"
                )
        if train:
            aug = self.config.augment
            if "crop" in aug:
                x = random_crop(x, max(1, res // 8))
            if "flip" in aug:
                flip = torch.rand(x.shape[0], device=x.device) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
            if "cutout" in aug:
                x = cutout(x, max(1, res // 4))
        return x.contiguous(memory_format=fmt)

    @torch.no_grad()
    def _accuracy(self, model, t, res, in_chans, fmt, amp_dtype) -> tuple[float, float]:
        """(top-1 accuracy in %, mean cross-entropy) on the validation images."""
        model.eval()
        correct = torch.zeros((), dtype=torch.int64, device=t["val_y"].device)
        loss = torch.zeros((), dtype=torch.float64, device=t["val_y"].device)
        n = len(t["val_y"])
        bs = self.config.eval_batch_size or max(2 * self.config.batch_size, 256)
        for s in range(0, n, bs):
            x = self._prepare(t["val_x"][s : s + bs], t, res, in_chans, False, fmt)
            y = t["val_y"][s : s + bs]
            with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(x).float()
            correct += (logits.argmax(1) == y).sum()
            loss += F.cross_entropy(logits, y, reduction="sum")
        return 100.0 * int(correct) / n, float(loss) / n


def zero_classifier(model: nn.Module) -> None:
    """Zero the weights and bias of ``model``'s last ``nn.Linear`` (its classifier).

    Initialisations tuned for 1,000 classes (Google's uniform ±1/√classes) give logits of
    tens with 10 classes and wide heads, and gradients that blow a short high-lr schedule
    up; from zero, every candidate starts at the uniform prediction.
    """
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    if last is not None:
        with torch.no_grad():
            last.weight.zero_()
            if last.bias is not None:
                last.bias.zero_()


def _subset(x: torch.Tensor, y: torch.Tensor, fraction: float, seed: int):
    """A seeded random ``fraction`` of the images (in their original order)."""
    n = len(y)
    keep = max(1, int(round(n * fraction)))
    if keep >= n:
        return x, y
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(n, generator=g)[:keep].sort().values
    return x[idx], y[idx]


def random_crop(x: torch.Tensor, pad: int) -> torch.Tensor:
    """Per-image random crop of ``x`` (B×C×H×W) after reflect-padding by ``pad``."""
    b, _, h, w = x.shape
    p = min(pad, h - 1, w - 1)
    if p < 1:
        return x
    xp = F.pad(x, (p, p, p, p), mode="reflect")
    i = torch.randint(0, 2 * p + 1, (b, 1), device=x.device)
    j = torch.randint(0, 2 * p + 1, (b, 1), device=x.device)
    rows = i + torch.arange(h, device=x.device)  # B×H
    cols = j + torch.arange(w, device=x.device)  # B×W
    bidx = torch.arange(b, device=x.device)[:, None, None]
    out = xp[bidx, :, rows[:, :, None], cols[:, None, :]]  # B×H×W×C
    return out.permute(0, 3, 1, 2)


def cutout(x: torch.Tensor, size: int) -> torch.Tensor:
    """Zero one ``size``×``size`` square (clipped at the border) at a random place per image."""
    b, _, h, w = x.shape
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    half = size // 2
    inside = ((ys - cy).abs() <= half) & ((xs - cx).abs() <= half)  # B×H×W
    return x * (~inside)[:, None].to(x.dtype)


class _MultiStep:
    """timm's MultiStepLRScheduler with step-based milestones (imported lazily)."""

    def __new__(cls, optimizer, milestones, **kwargs):
        from timm.scheduler import MultiStepLRScheduler

        return MultiStepLRScheduler(optimizer, decay_t=milestones, decay_rate=0.1, **kwargs)


def timed_evaluate(evaluator: AccuracyEvaluator, arch: Arch, report: Report | None = None):
    """(accuracy, seconds) for one evaluation."""
    t0 = time.perf_counter()
    acc = evaluator.evaluate(arch, report)
    return acc, time.perf_counter() - t0
