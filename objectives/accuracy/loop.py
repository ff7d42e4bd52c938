"""The proxy-training loop: one run's updates and epochs, and the validation pass.

:class:`Feed` holds a run's images on the device and turns index batches into model input;
:class:`Stepper` does one update (mixup, forward under autocast, loss, backward with fp16
loss scaling, clipping, optimiser and schedule); :func:`run_epochs` runs the epochs,
validates after each one and records what it saw in the run record. A non-finite loss
raises :class:`~accelsearch.errors.EvaluationError`, which fails that trial with its reason.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from accelsearch.core.errors import ConfigError, EvaluationError
from accelsearch.objectives.accuracy.augment import prepare_batch
from accelsearch.objectives.accuracy.data import ImageData
from accelsearch.objectives.accuracy.optim import make_loss, make_optimizer, make_scheduler


@dataclass
class Feed:
    """A run's images on the device (``tensors``) and how batches of them become input."""

    tensors: dict[str, torch.Tensor]
    res: int
    in_chans: int
    fmt: torch.memory_format
    augment: tuple[str, ...]
    batch_size: int

    @property
    def n(self) -> int:
        return len(self.tensors["train_y"])

    @property
    def steps_per_epoch(self) -> int:
        return self.n // self.batch_size

    def train_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Augmented input and labels of the training images at ``idx``."""
        t = self.tensors
        x = prepare_batch(t["train_x"][idx], t, self.res, self.in_chans, self.fmt, self.augment)
        return x, t["train_y"][idx]


def train_batch_size(c: Any, data: ImageData, n: int) -> int:
    """``c.batch_size`` (a ``TrainConfig``'s) fitted to ``n`` training images; even under
    mixup / cutmix, which pair images."""
    bs = min(c.batch_size, n)
    if (c.mixup or c.cutmix) and bs % 2:
        bs -= 1
    if bs < 2:
        raise ConfigError(
            f"dataset {data.name!r} leaves {n} training image(s) after data_fraction="
            f"{c.data_fraction}; proxy training needs at least 2 per batch"
        )
    return bs


@dataclass
class Stepper:
    """One training update; counts the updates and steps the schedule after each."""

    model: nn.Module  # holds the parameters (clipping)
    step_model: nn.Module  # runs forward: the model, or torch.compile's wrapper of it
    optimizer: Any
    scheduler: Any
    loss_fn: nn.Module
    mixup: Any  # timm's Mixup, or None
    data: ImageData
    device_type: str
    amp_dtype: torch.dtype | None
    use_amp: bool
    scaler: Any  # torch.amp.GradScaler under fp16, else None
    clip_grad: float | None
    updates: int = 0

    def step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Update on one batch; returns its loss."""
        if self.mixup is not None:
            x, y = self.mixup(x, y)
        with torch.autocast(self.device_type, dtype=self.amp_dtype, enabled=self.use_amp):
            logits = self.step_model(x)
            if self.updates == 0:
                check_outputs(logits, self.data)
            loss = self.loss_fn(logits.float(), y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if self.clip_grad:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            if self.clip_grad:
                nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad)
            self.optimizer.step()
        self.updates += 1
        self.scheduler.step_update(self.updates)
        return loss

    @property
    def eval_amp_dtype(self) -> torch.dtype | None:
        return self.amp_dtype if self.use_amp else None


def make_stepper(
    model: nn.Module, c: Any, device: torch.device, data: ImageData, steps_per_epoch: int
) -> Stepper:
    """The optimiser, schedule, loss and precision ``c`` (a ``TrainConfig``) asks for."""
    optimizer = make_optimizer(model, c)
    total = steps_per_epoch * c.epochs
    sched = make_scheduler(optimizer, c, total, int(round(c.warmup_epochs * steps_per_epoch)))
    mixup, loss_fn = make_loss(c, data.num_classes)
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(c.amp or "")
    use_amp = amp_dtype is not None and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda") if use_amp and amp_dtype == torch.float16 else None
    step_model = model
    if c.compile and device.type == "cuda":
        step_model = torch.compile(model)
    return Stepper(
        model=model,
        step_model=step_model,
        optimizer=optimizer,
        scheduler=sched,
        loss_fn=loss_fn,
        mixup=mixup,
        data=data,
        device_type=device.type,
        amp_dtype=amp_dtype,
        use_amp=use_amp,
        scaler=scaler,
        clip_grad=c.clip_grad,
    )


@dataclass
class LossGuard:
    """Watches the epochs' train loss for a spike: a rise above the lowest so far by more
    than ``rise`` (a fraction) marks the run unstable; with ``stop`` the run ends there."""

    rise: float
    stop: bool = False

    def check(self, losses: list[float], run: dict[str, Any]) -> bool:
        """Called after each epoch with the losses so far; True when the run should stop."""
        if len(losses) < 2 or "unstable" in run:
            return False
        lowest = min(losses[:-1])
        rise = losses[-1] / lowest - 1 if lowest > 0 else 0.0
        if rise <= self.rise:
            return False
        run["unstable"] = {"epoch": len(losses), "loss_rise": rise, "stopped": self.stop}
        return self.stop


def run_epochs(
    stepper: Stepper,
    feed: Feed,
    c: Any,
    device: torch.device,
    report: Callable[[int, float], Any] | None,
    run: dict[str, Any],
    seed: int | None = None,
    guard: LossGuard | None = None,
) -> float:
    """Train for ``c.epochs``, validate after each (``report(epoch, accuracy)``), fill ``run``;
    returns the last validation accuracy (%). ``seed`` (default ``c.seed``) orders the
    batches; ``guard`` may end an unstable run early (``run["unstable"]`` says when)."""
    check_every = c.check_every if device.type == "cuda" else 1
    g = torch.Generator(device="cpu").manual_seed(c.seed if seed is None else seed)
    eval_bs = c.eval_batch_size or max(2 * c.batch_size, 256)
    acc = 0.0
    sync(device)
    for epoch in range(c.epochs):
        t0 = time.perf_counter()
        loss_sum = train_epoch(stepper, feed, g, epoch, check_every, device)
        sync(device)
        t1 = time.perf_counter()
        acc, val_loss = validate(stepper.step_model, feed, eval_bs, stepper.eval_amp_dtype)
        t2 = time.perf_counter()
        run["train_s"] += t1 - t0
        run["eval_s"] += t2 - t1
        run["images"] += feed.steps_per_epoch * feed.batch_size
        run["epochs"].append(epoch + 1)
        run["accuracy"].append(acc)
        run["train_loss"].append(float(loss_sum) / feed.steps_per_epoch)
        run["val_loss"].append(val_loss)
        if report is not None:
            report(epoch + 1, acc)
        if guard is not None and guard.check(run["train_loss"], run):
            break
    run["images_per_s"] = run["images"] / max(run["train_s"], 1e-9)
    return acc


def train_epoch(
    stepper: Stepper,
    feed: Feed,
    g: torch.Generator,
    epoch: int,
    check_every: int,
    device: torch.device,
) -> torch.Tensor:
    """One pass over the training images in a seeded order; returns the summed loss."""
    stepper.model.train()
    loss_sum = torch.zeros((), device=device)
    perm = torch.randperm(feed.n, generator=g).to(device)
    bs, steps = feed.batch_size, feed.steps_per_epoch
    for s in range(steps):
        x, y = feed.train_batch(perm[s * bs : (s + 1) * bs])
        loss = stepper.step(x, y)
        loss_sum += loss.detach()
        if stepper.updates % check_every == 0 or s == steps - 1:
            check_finite(loss_sum, epoch, s)
    return loss_sum


@torch.no_grad()
def validate(
    model: nn.Module, feed: Feed, batch_size: int, amp_dtype: torch.dtype | None
) -> tuple[float, float]:
    """(top-1 accuracy in %, mean cross-entropy) on the validation images."""
    model.eval()
    t = feed.tensors
    correct = torch.zeros((), dtype=torch.int64, device=t["val_y"].device)
    loss = torch.zeros((), dtype=torch.float64, device=t["val_y"].device)
    n = len(t["val_y"])
    for s in range(0, n, batch_size):
        x = prepare_batch(t["val_x"][s : s + batch_size], t, feed.res, feed.in_chans, feed.fmt)
        y = t["val_y"][s : s + batch_size]
        with torch.autocast(x.device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x).float()
        correct += (logits.argmax(1) == y).sum()
        loss += F.cross_entropy(logits, y, reduction="sum")
    return 100.0 * int(correct) / n, float(loss) / n


def sync(device: torch.device) -> None:
    """Wait for the device (so wall-clock timings are the device's)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check_outputs(logits: torch.Tensor, data: ImageData) -> None:
    """Raise :class:`EvaluationError` unless the model gives one logit per class."""
    if logits.ndim != 2 or logits.shape[1] != data.num_classes:
        outputs = logits.shape[1] if logits.ndim == 2 else tuple(logits.shape[1:])
        raise EvaluationError(
            f"model has {outputs} outputs but dataset {data.name!r} has "
            f"{data.num_classes} classes; build it with num_classes={data.num_classes}"
        )


def check_finite(loss_sum: torch.Tensor, epoch: int, step: int) -> None:
    """Raise :class:`EvaluationError` once the summed loss is not finite (a diverged run)."""
    value = float(loss_sum)
    if not math.isfinite(value):
        raise EvaluationError(
            f"training diverged: loss became {value} by epoch {epoch + 1}, step {step + 1}; "
            "the candidate is recorded as failed (lower accuracy.lr, add warmup_epochs or "
            "clip_grad to train it)"
        )
