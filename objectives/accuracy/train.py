"""Proxy training: train a built candidate on real data and report validation accuracy.

Data is decoded once to uint8 tensors (see :mod:`.data`) and moved to the training device
once; resizing to the candidate's resolution, random-crop/flip augmentation and
normalisation run batched on that device, so loading is never the bottleneck. Optimiser and
schedule come from timm (``create_optimizer_v2``, ``CosineLRScheduler``), as does mixup.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from accelsearch.arch import Arch
from accelsearch.errors import ConfigError, EvaluationError
from accelsearch.objectives.accuracy.base import AccuracyEvaluator, Report
from accelsearch.objectives.accuracy.data import ImageData, load_dataset

_DATA_CACHE: dict[tuple, ImageData] = {}


@dataclass
class TrainConfig:
    """Everything that decides a proxy-training run (all of it is logged)."""

    dataset: str = "digits"
    epochs: int = 3
    batch_size: int = 64
    lr: float = 0.05
    optimizer: str = "sgd"
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: float = 0.0
    label_smoothing: float = 0.0
    mixup: float = 0.0
    augment: Sequence[str] = field(default_factory=lambda: ("crop", "flip"))
    resolution: int | None = None  # None: the arch's own resolution
    data_fraction: float = 1.0
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "auto"
    amp: str | None = None  # None, "bf16" or "fp16" (CUDA only)
    channels_last: bool | None = None  # None: on for CUDA
    threads: int | None = None  # CPU threads (None: PyTorch's default)

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ConfigError(f"accuracy.epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ConfigError(f"accuracy.batch_size must be >= 1, got {self.batch_size}")
        if not 0 < self.data_fraction <= 1:
            raise ConfigError(f"accuracy.data_fraction must be in (0, 1], got {self.data_fraction}")
        if self.amp not in (None, "bf16", "fp16"):
            raise ConfigError(f"accuracy.amp is {self.amp!r}; valid: None, 'bf16', 'fp16'")
        bad = [a for a in self.augment if a not in ("crop", "flip")]
        if bad:
            raise ConfigError(f"accuracy.augment has {bad}; valid: 'crop', 'flip'")
        self.augment = tuple(self.augment)


class TrainEvaluator(AccuracyEvaluator):
    """Trains each candidate from scratch for ``epochs`` and reports accuracy per epoch."""

    name = "train"

    def __init__(self, config: TrainConfig | None = None, **kwargs: Any) -> None:
        self.config = config or TrainConfig(**kwargs)
        self._data: ImageData | None = None
        self._dev_data: dict[str, torch.Tensor] | None = None

    def describe(self) -> str:
        c = self.config
        return f"train({c.dataset}, {c.epochs} epochs, {c.optimizer}, lr {c.lr}, bs {c.batch_size})"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self.config)

    # -- data ------------------------------------------------------------------------------
    def data(self) -> ImageData:
        if self._data is None:
            c = self.config
            key = (c.dataset, c.val_fraction, c.seed)
            if key not in _DATA_CACHE:
                _DATA_CACHE[key] = load_dataset(c.dataset, c.val_fraction, c.seed)
            self._data = _DATA_CACHE[key]
        return self._data

    def _device(self) -> torch.device:
        dev = self.config.device
        if dev == "auto":
            dev = "cuda" if torch.cuda.is_available() else "cpu"
        return torch.device(dev)

    def _tensors(self, device: torch.device) -> dict[str, torch.Tensor]:
        if self._dev_data is None or self._dev_data["train_x"].device != device:
            d = self.data()
            n = len(d.train_y)
            keep = max(1, int(round(n * self.config.data_fraction)))
            if keep < n:
                g = torch.Generator().manual_seed(self.config.seed)
                idx = torch.randperm(n, generator=g)[:keep]
            else:
                idx = torch.arange(n)
            self._dev_data = {
                "train_x": d.train_x[idx].to(device),
                "train_y": d.train_y[idx].to(device),
                "val_x": d.val_x.to(device),
                "val_y": d.val_y.to(device),
            }
        return self._dev_data

    # -- training --------------------------------------------------------------------------
    def evaluate(
        self, arch: Arch, report: Report | None = None, model: nn.Module | None = None
    ) -> float:
        """Train ``arch`` (or the given ``model`` of it) and return final val accuracy (%)."""
        c = self.config
        data = self.data()
        torch.manual_seed(c.seed)
        if model is None:
            from accelsearch.builder import build_model

            model = build_model(arch, num_classes=data.num_classes)
        out_features = getattr(getattr(model, "classifier", None), "out_features", None)
        if out_features is not None and out_features != data.num_classes:
            raise EvaluationError(
                f"model has {out_features} outputs but dataset {data.name!r} has "
                f"{data.num_classes} classes; build it with num_classes={data.num_classes}"
            )
        device = self._device()
        threads_before = torch.get_num_threads()
        if c.threads and device.type == "cpu":
            torch.set_num_threads(c.threads)
        try:
            return self._train(model, arch, data, device, report)
        finally:
            torch.set_num_threads(threads_before)

    def _train(self, model, arch, data, device, report) -> float:
        from timm.optim import create_optimizer_v2
        from timm.scheduler import CosineLRScheduler

        c = self.config
        t = self._tensors(device)
        res = c.resolution or arch.resolution
        cl = c.channels_last if c.channels_last is not None else device.type == "cuda"
        fmt = torch.channels_last if cl else torch.contiguous_format
        model = model.to(device=device, memory_format=fmt)
        n = len(t["train_y"])
        steps_per_epoch = max(1, n // c.batch_size)
        total = steps_per_epoch * c.epochs
        opt_kwargs = {"momentum": c.momentum} if c.optimizer in ("sgd", "momentum") else {}
        optimizer = create_optimizer_v2(
            model, opt=c.optimizer, lr=c.lr, weight_decay=c.weight_decay, **opt_kwargs
        )
        sched = CosineLRScheduler(
            optimizer,
            t_initial=total,
            warmup_t=int(c.warmup_epochs * steps_per_epoch),
            warmup_lr_init=c.lr * 0.01,
            lr_min=c.lr * 0.01,
            t_in_epochs=False,
        )
        mixup = None
        if c.mixup > 0:
            from timm.data import Mixup

            mixup = Mixup(
                mixup_alpha=c.mixup, label_smoothing=c.label_smoothing, num_classes=data.num_classes
            )
            from timm.loss import SoftTargetCrossEntropy

            loss_fn = SoftTargetCrossEntropy()
        else:
            loss_fn = nn.CrossEntropyLoss(label_smoothing=c.label_smoothing)
        amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(c.amp or "")
        use_amp = amp_dtype is not None and device.type == "cuda"
        scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None
        g = torch.Generator(device="cpu").manual_seed(c.seed)
        acc = 0.0
        updates = 0
        for epoch in range(c.epochs):
            model.train()
            perm = torch.randperm(n, generator=g).to(device)
            for s in range(steps_per_epoch):
                idx = perm[s * c.batch_size : (s + 1) * c.batch_size]
                x = self._prepare(t["train_x"][idx], res, arch.in_chans, train=True, fmt=fmt)
                y = t["train_y"][idx]
                if mixup is not None and len(y) % 2 == 0:
                    x, y = mixup(x, y)
                with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                    loss = loss_fn(model(x), y)
                if not torch.isfinite(loss):
                    raise EvaluationError(
                        f"training diverged: loss is {loss.item()} at epoch {epoch + 1}, step "
                        f"{s + 1}; the candidate is recorded as failed (lower accuracy.lr to "
                        "train it)"
                    )
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                updates += 1
                sched.step_update(updates)
            acc = self._accuracy(model, t, res, arch.in_chans, fmt, amp_dtype if use_amp else None)
            if report is not None:
                report(epoch + 1, acc)
        return acc

    def _prepare(self, x_u8, res, in_chans, train, fmt):
        x = x_u8.float().div_(255.0)
        if x.shape[1] != in_chans:
            if x.shape[1] == 1:
                x = x.expand(-1, in_chans, -1, -1)
            else:
                raise EvaluationError(
                    f"dataset images have {x.shape[1]} channels but the arch takes {in_chans}"
                )
        if x.shape[-1] != res or x.shape[-2] != res:
            x = F.interpolate(x, size=(res, res), mode="bilinear", align_corners=False)
        if train:
            if "crop" in self.config.augment:
                pad = max(1, res // 8)
                x = F.pad(x, (pad, pad, pad, pad), mode="reflect")
                i, j = (int(v) for v in torch.randint(0, 2 * pad + 1, (2,)))
                x = x[:, :, i : i + res, j : j + res]
            if "flip" in self.config.augment:
                flip = torch.rand(x.shape[0], device=x.device) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        x = (x - 0.5) / 0.25
        return x.contiguous(memory_format=fmt)

    @torch.no_grad()
    def _accuracy(self, model, t, res, in_chans, fmt, amp_dtype) -> float:
        model.eval()
        correct = 0
        n = len(t["val_y"])
        bs = max(self.config.batch_size, 256)
        for s in range(0, n, bs):
            x = self._prepare(t["val_x"][s : s + bs], res, in_chans, train=False, fmt=fmt)
            with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                pred = model(x).argmax(1)
            correct += int((pred == t["val_y"][s : s + bs]).sum())
        acc = 100.0 * correct / n
        if not math.isfinite(acc):
            raise EvaluationError("validation accuracy is not finite")
        return acc


def timed_evaluate(evaluator: AccuracyEvaluator, arch: Arch, report: Report | None = None):
    """(accuracy, seconds) for one evaluation."""
    t0 = time.perf_counter()
    acc = evaluator.evaluate(arch, report)
    return acc, time.perf_counter() - t0
