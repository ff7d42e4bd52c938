"""Optimiser, learning-rate schedule, loss and classifier set-up for proxy training.

All from timm: ``create_optimizer_v2``; ``CosineLRScheduler``, ``PolyLRScheduler``,
``StepLRScheduler`` and ``MultiStepLRScheduler``, stepped every update; ``Mixup`` with
``SoftTargetCrossEntropy``. timm is a hard dependency, but its optimiser, scheduler and data
modules cost seconds to import, so they are imported where a training run needs them.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def make_optimizer(model: nn.Module, c: Any) -> torch.optim.Optimizer:
    """The optimiser ``c`` (a ``TrainConfig``) names, with the classifier's lr scaled by
    ``head_lr_width`` when set."""
    from timm.optim import create_optimizer_v2  # heavy import, see the module docstring

    opt_kwargs = {"momentum": c.momentum} if c.optimizer in ("sgd", "momentum", "nesterov") else {}
    optimizer = create_optimizer_v2(
        model, opt=c.optimizer, lr=c.lr, weight_decay=c.weight_decay, **opt_kwargs
    )
    if c.head_lr_width:
        scale_head_lr(optimizer, model, c.head_lr_width)
    return optimizer


def make_scheduler(optimizer, c: Any, total: int, warmup: int):
    """timm's scheduler for ``c.scheduler`` over ``total`` updates, ``warmup`` of them linear."""
    # heavy import, see the module docstring
    from timm.scheduler import CosineLRScheduler, PolyLRScheduler, StepLRScheduler

    common = dict(
        warmup_t=warmup, warmup_lr_init=c.lr * max(c.min_lr_ratio, 1e-3), t_in_epochs=False
    )
    if c.scheduler == "cosine":
        return CosineLRScheduler(optimizer, t_initial=total, lr_min=c.lr * c.min_lr_ratio, **common)
    if c.scheduler in ("linear", "onecycle"):
        return PolyLRScheduler(
            optimizer, t_initial=total, power=1.0, lr_min=c.lr * c.min_lr_ratio, **common
        )
    if c.scheduler == "step":
        return _MultiStep(optimizer, [int(total * 0.5), int(total * 0.75)], **common)
    return StepLRScheduler(optimizer, decay_t=total + 1, decay_rate=1.0, **common)


class _MultiStep:
    """timm's MultiStepLRScheduler with step-based milestones (imported lazily)."""

    def __new__(cls, optimizer, milestones, **kwargs):
        from timm.scheduler import MultiStepLRScheduler  # heavy import, see the module docstring

        return MultiStepLRScheduler(optimizer, decay_t=milestones, decay_rate=0.1, **kwargs)


def make_loss(c: Any, num_classes: int) -> tuple[Any, nn.Module]:
    """(timm's ``Mixup`` or None, the loss): soft-target cross-entropy under mixup / cutmix,
    else cross-entropy with ``c.label_smoothing``."""
    if c.mixup > 0 or c.cutmix > 0:
        # heavy imports, see the module docstring
        from timm.data import Mixup
        from timm.loss import SoftTargetCrossEntropy

        mixup = Mixup(
            mixup_alpha=c.mixup,
            cutmix_alpha=c.cutmix,
            label_smoothing=c.label_smoothing,
            num_classes=num_classes,
        )
        return mixup, SoftTargetCrossEntropy()
    return None, nn.CrossEntropyLoss(label_smoothing=c.label_smoothing)


def _classifier(model: nn.Module) -> nn.Linear | None:
    last = None
    for module in model.modules():
        if isinstance(module, nn.Linear):
            last = module
    return last


def scale_head_lr(optimizer, model: nn.Module, width: int) -> float:
    """Give the classifier's parameters their own groups at ``lr_scale = width / fan_in``
    (capped at 1), which timm's schedulers apply on every step; returns the scale."""
    head = _classifier(model)
    if head is None or head.in_features <= width:
        return 1.0
    scale = width / head.in_features
    ids = {id(p) for p in head.parameters()}
    for group in list(optimizer.param_groups):
        moved = [p for p in group["params"] if id(p) in ids]
        if not moved:
            continue
        group["params"] = [p for p in group["params"] if id(p) not in ids]
        extra = {k: v for k, v in group.items() if k != "params"}
        optimizer.add_param_group(dict(extra, params=moved, lr_scale=scale))
    optimizer.param_groups[:] = [g for g in optimizer.param_groups if g["params"]]
    return scale


def zero_classifier(model: nn.Module) -> None:
    """Zero the weights and bias of ``model``'s last ``nn.Linear`` (its classifier).

    Initialisations tuned for 1,000 classes (Google's uniform ±1/√classes) give logits of
    tens with 10 classes and wide heads, and gradients that blow a short high-lr schedule
    up; from zero, every candidate starts at the uniform prediction.
    """
    last = _classifier(model)
    if last is not None:
        with torch.no_grad():
            last.weight.zero_()
            if last.bias is not None:
                last.bias.zero_()
