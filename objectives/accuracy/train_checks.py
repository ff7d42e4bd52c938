"""The checks a :class:`~.train.TrainConfig` runs when it is made.

Each failure is a :class:`~accelsearch.errors.ConfigError` that names the ``accuracy.``
field, the value and what is valid. The checks run in the order the fields are listed, so
the first bad field is the one reported.
"""

from __future__ import annotations

import math
from typing import Any

from accelsearch.core.errors import ConfigError, choices_text
from accelsearch.objectives.accuracy.data import check_source

SCHEDULERS = ("cosine", "linear", "onecycle", "step", "constant")
AUGMENTS = ("crop", "flip", "cutout")


def check_config(c: Any) -> None:
    """Check a ``TrainConfig`` (its field kinds are checked before) and make ``augment`` a
    tuple; raise :class:`ConfigError` at the first bad field."""
    _check_data_and_batches(c)
    _check_optimisation(c)
    _check_input_size(c)
    _need(
        c.val_limit is None or c.val_limit >= 1,
        f"accuracy.val_limit must be >= 1 or None, got {c.val_limit}",
    )
    _need(c.check_every >= 1, f"accuracy.check_every must be >= 1, got {c.check_every}")
    _check_choices(c)
    check_source(c.dataset)
    if c.val_dataset is not None:
        check_source(c.val_dataset, "validation dataset")


def _need(cond: bool, text: str) -> None:
    if not cond:
        raise ConfigError(text)


def _check_data_and_batches(c: Any) -> None:
    _need(c.epochs >= 1, f"accuracy.epochs must be >= 1, got {c.epochs}")
    _need(c.batch_size >= 1, f"accuracy.batch_size must be >= 1, got {c.batch_size}")
    _need(
        c.eval_batch_size is None or c.eval_batch_size >= 1,
        f"accuracy.eval_batch_size must be >= 1, got {c.eval_batch_size}",
    )
    _need(
        0 < c.data_fraction <= 1,
        f"accuracy.data_fraction must be in (0, 1], got {c.data_fraction}",
    )
    _need(
        0 < c.val_fraction < 1,
        f"accuracy.val_fraction must be in (0, 1), got {c.val_fraction}",
    )


def _check_optimisation(c: Any) -> None:
    _need(math.isfinite(c.lr) and c.lr > 0, f"accuracy.lr must be > 0, got {c.lr}")
    _need(c.weight_decay >= 0, f"accuracy.weight_decay must be >= 0, got {c.weight_decay}")
    _need(
        c.head_lr_width is None or c.head_lr_width >= 1,
        f"accuracy.head_lr_width must be >= 1 or None, got {c.head_lr_width}",
    )
    _need(
        0 <= c.label_smoothing < 1,
        f"accuracy.label_smoothing must be in [0, 1), got {c.label_smoothing}",
    )
    _need(c.mixup >= 0 and c.cutmix >= 0, "accuracy.mixup and cutmix must be >= 0")
    _need(
        0 <= c.min_lr_ratio <= 1,
        f"accuracy.min_lr_ratio must be in [0, 1], got {c.min_lr_ratio}",
    )
    _need(
        c.warmup_epochs >= 0,
        f"accuracy.warmup_epochs must be >= 0, got {c.warmup_epochs}",
    )
    _need(
        c.clip_grad is None or c.clip_grad > 0,
        f"accuracy.clip_grad must be > 0 or None, got {c.clip_grad}",
    )
    _need(
        c.unstable_loss_rise > 0,
        f"accuracy.unstable_loss_rise must be > 0 (a fraction, e.g. 0.03), got "
        f"{c.unstable_loss_rise}",
    )
    _need(
        isinstance(c.retry_unstable, int) and c.retry_unstable >= 0,
        f"accuracy.retry_unstable must be an integer >= 0 (retries of an unstable run), got "
        f"{c.retry_unstable!r}",
    )


def _check_input_size(c: Any) -> None:
    _need(
        c.resolution is None or c.resolution >= 8,
        f"accuracy.resolution must be >= 8 or None, got {c.resolution}",
    )
    _need(
        c.resolution_scale is None
        or (math.isfinite(c.resolution_scale) and 0 < c.resolution_scale <= 4),
        f"accuracy.resolution_scale must be in (0, 4] or None, got {c.resolution_scale}",
    )
    _need(
        c.resolution is None or c.resolution_scale is None,
        "accuracy.resolution and accuracy.resolution_scale are both set; a fixed resolution "
        f"({c.resolution}) or one that follows each arch's ({c.resolution_scale}), "
        "not both: drop one of them",
    )
    _need(
        c.resolution_multiple >= 1,
        f"accuracy.resolution_multiple must be >= 1, got {c.resolution_multiple}",
    )
    _need(
        c.max_stride is None or c.max_stride >= 1,
        f"accuracy.max_stride must be >= 1 or None, got {c.max_stride}",
    )


def _check_choices(c: Any) -> None:
    if c.amp not in (None, "bf16", "fp16"):
        raise ConfigError(f"accuracy.amp is {c.amp!r}; valid: None, 'bf16', 'fp16'")
    if c.scheduler not in SCHEDULERS:
        raise ConfigError(
            f"accuracy.scheduler is {c.scheduler!r}; valid choices: {choices_text(SCHEDULERS)}"
        )
    if isinstance(c.augment, str):
        c.augment = (c.augment,)
    bad = [a for a in c.augment if a not in AUGMENTS]
    if bad:
        raise ConfigError(f"accuracy.augment has {bad}; valid choices: {choices_text(AUGMENTS)}")
    c.augment = tuple(c.augment)
    # timm is a hard dependency but costs seconds to import; only a config check needs this
    from timm.optim import list_optimizers

    if c.optimizer.lower() not in list_optimizers():
        raise ConfigError(
            f"accuracy.optimizer {c.optimizer!r} is not one of timm's optimizers; "
            "common choices: 'sgd', 'momentum', 'adamw', 'lamb', 'lion'"
        )
    if c.device not in ("auto", "cpu") and not c.device.startswith("cuda"):
        raise ConfigError(f"accuracy.device is {c.device!r}; valid: 'auto', 'cpu', 'cuda[:N]'")
