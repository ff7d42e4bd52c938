"""Parameters and multiply-adds of a model, counted with ``torch.utils.flop_counter``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from accelsearch.arch import Arch


@dataclass(frozen=True)
class ModelCost:
    params: int
    macs: int  # multiply-adds for one image (FLOPs = 2 × MACs)

    @property
    def params_m(self) -> float:
        return self.params / 1e6

    @property
    def gmacs(self) -> float:
        return self.macs / 1e9

    @property
    def gflops(self) -> float:
        return 2 * self.macs / 1e9


def model_cost(model: nn.Module, resolution: int, in_chans: int = 3) -> ModelCost:
    """Parameters and per-image multiply-adds of ``model`` at ``resolution``."""
    from torch.utils.flop_counter import FlopCounterMode

    params = sum(p.numel() for p in model.parameters())
    was_training = model.training
    model.eval()
    x = torch.zeros(
        1,
        in_chans,
        resolution,
        resolution,
        device=next(model.parameters()).device if params else "cpu",
    )
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return ModelCost(params=params, macs=int(counter.get_total_flops() // 2))


def arch_cost(arch: Arch, num_classes: int = 1000) -> ModelCost:
    from accelsearch.builder import build_model

    return model_cost(build_model(arch, num_classes=num_classes), arch.resolution, arch.in_chans)
