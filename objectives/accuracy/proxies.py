"""Zero-cost proxies: score an untrained network from one (or a few) batches.

``score(name, model, input_shape=(3, 32, 32))`` returns a float where higher means "likely
more accurate after training". The model is copied first, never changed. Inputs are a
seeded Gaussian batch unless ``batch=(x, y)`` gives real images (normalised, N×C×H×W) and
labels; :func:`batch_from_dataset` makes one from any dataset source of :mod:`.data`.

=============  ================================================================================
name           what it computes (source)
=============  ================================================================================
``synflow``    Σ |θ ⊙ ∂R/∂θ| over conv/linear weights, R = Σ f(1) of the network with |θ|,
               BN at fresh running statistics (≈ identity), float64; no data needed
               (Tanaka et al. 2020, used as a NAS proxy by Abdelfattah et al. 2021)
``naswot``     log|det K| of the activation-pattern kernel K = c·cᵀ + (1−c)·(1−c)ᵀ summed
               over activation layers, c = (input > 0) per image (Mellor et al., ICML 2021)
``jacob_cov``  −Σ log(λ+k) + 1/(λ+k) over eigenvalues λ of the correlation of the input
               Jacobians, k = 1e-5 (the first NASWOT paper, Mellor et al. 2020)
``grad_norm``  Σ ‖∂L/∂W‖₂ over conv/linear weights for the cross-entropy of one batch
               (Abdelfattah et al., ICLR 2021)
``zen``        log E‖f(x) − f(x + 0.01ε)‖₁ + Σ log √mean(σ²_BN) with Gaussian weights, f the
               pre-pooling features (``forward_features``), σ²_BN the batch variances seen by
               each BatchNorm (Lin et al., Zen-NAS, ICCV 2021)
``params``     parameter count in millions (baseline)
``flops``      GFLOPs for one image at ``input_shape`` (baseline)
=============  ================================================================================

:class:`~.proxy_evaluator.ProxyEvaluator` (registered as accuracy evaluator ``"proxy"``)
lets a search use a proxy in place of training; the value it reports as "accuracy" is then
the proxy score.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from accelsearch.core.errors import ConfigError, EvaluationError
from accelsearch.core.registry import Registry
from accelsearch.objectives.accuracy.data import load_dataset

Batch = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Proxy:
    name: str
    fn: Callable[..., float]
    batch_size: int  # default batch size (1 for data-free proxies)
    description: str = ""


PROXIES: Registry[Proxy] = Registry("zero-cost proxy")

_ACTIVATIONS = (
    nn.ReLU,
    nn.ReLU6,
    nn.LeakyReLU,
    nn.PReLU,
    nn.ELU,
    nn.SiLU,
    nn.GELU,
    nn.Hardswish,
    nn.Mish,
)


def register_proxy(name: str, batch_size: int = 64, description: str = ""):
    """Decorator: register ``fn(model, x, y) -> float`` as a zero-cost proxy."""

    def deco(fn):
        PROXIES.add(name, Proxy(name, fn, batch_size, description))
        return fn

    return deco


def names() -> list[str]:
    """Registered proxy names."""
    return PROXIES.names()


def score(
    name: str,
    model: nn.Module,
    input_shape: tuple[int, int, int] = (3, 32, 32),
    *,
    batch_size: int | None = None,
    batch: Batch | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
) -> float:
    """Proxy ``name`` of ``model`` for inputs of ``input_shape`` (C, H, W); higher is better.

    Unknown names raise :class:`~accelsearch.errors.UnknownNameError` listing the valid
    ones; a non-finite score raises :class:`~accelsearch.errors.EvaluationError`.
    """
    proxy = PROXIES.get(name)
    if not isinstance(model, nn.Module):
        raise ConfigError(f"proxies.score needs an nn.Module, got {type(model).__name__}")
    if len(tuple(input_shape)) != 3 or any(int(s) < 1 for s in input_shape):
        raise ConfigError(f"input_shape must be (channels, height, width), got {input_shape}")
    if device is None:
        p = next(model.parameters(), None)
        device = p.device if p is not None else torch.device("cpu")
    device = torch.device(device)
    if batch is not None:
        x, y = batch
        if tuple(x.shape[1:]) != tuple(int(s) for s in input_shape):
            raise ConfigError(
                f"batch images have shape {tuple(x.shape[1:])} but input_shape is "
                f"{tuple(input_shape)}"
            )
        x, y = x.to(device), y.to(device)
    else:
        n = batch_size or proxy.batch_size
        if n < 1:
            raise ConfigError(f"batch_size must be >= 1, got {n}")
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, *(int(s) for s in input_shape), generator=g).to(device)
        y = None
    net = copy.deepcopy(model).to(device)
    rng = torch.random.fork_rng(devices=[device.index or 0] if device.type == "cuda" else [])
    with rng:
        torch.manual_seed(seed)
        value = float(proxy.fn(net, x, y))
    if not math.isfinite(value):
        raise EvaluationError(
            f"zero-cost proxy {name!r} is {value} for this model (overflow or a degenerate "
            "network); use another proxy or a smaller input"
        )
    return value


def _labels(net: nn.Module, x: torch.Tensor, y: torch.Tensor | None, seed: int = 0):
    if y is not None:
        return y
    with torch.no_grad():
        was = net.training
        net.eval()
        classes = net(x[:1]).shape[-1]
        net.train(was)
    g = torch.Generator().manual_seed(seed + 1)
    return torch.randint(0, classes, (x.shape[0],), generator=g).to(x.device)


def _weights(net: nn.Module):
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and m.weight.grad is not None:
            yield m.weight


# -- the proxies ------------------------------------------------------------------------------
@register_proxy("synflow", batch_size=1, description="synaptic flow with |θ| and an all-ones input")
def _synflow(net: nn.Module, x: torch.Tensor, y) -> float:
    net = net.double()
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    net.eval()  # BN at mean 0, var 1: (almost) the identity, as with BN removed
    with torch.no_grad():
        for p in net.parameters():
            p.abs_()
    ones = torch.ones_like(x[:1], dtype=torch.float64)
    net.zero_grad(set_to_none=True)
    net(ones).sum().backward()
    with torch.no_grad():
        return float(sum((w * w.grad).abs().sum() for w in _weights(net)))


@register_proxy("naswot", batch_size=64, description="log|det| of the activation-pattern kernel")
def _naswot(net: nn.Module, x: torch.Tensor, y) -> float:
    n = x.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=x.device)
    hooks = []

    def hook(_mod, inputs, _out):
        c = (inputs[0].detach().reshape(n, -1) > 0).to(torch.float64)
        kernel.add_(c @ c.T).add_((1 - c) @ (1 - c).T)

    for m in net.modules():
        if isinstance(m, _ACTIVATIONS):
            hooks.append(m.register_forward_hook(hook))
    if not hooks:
        raise EvaluationError("naswot needs activation modules (nn.ReLU, ...); the model has none")
    net.train()
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in hooks:
            h.remove()
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else float("-inf")


@register_proxy("jacob_cov", batch_size=64, description="correlation of input Jacobians")
def _jacob_cov(net: nn.Module, x: torch.Tensor, y) -> float:
    net.train()
    x = x.clone().requires_grad_(True)
    out = net(x)
    out.backward(torch.ones_like(out))
    grad = x.grad if x.grad is not None else torch.zeros_like(x)  # output ignores the input
    jac = grad.reshape(x.shape[0], -1).to(torch.float64)
    corr = torch.corrcoef(jac)
    corr = torch.nan_to_num(corr, nan=0.0)
    eig = torch.linalg.eigvalsh(corr).clamp_min(0.0)
    k = 1e-5
    return float(-torch.sum(torch.log(eig + k) + 1.0 / (eig + k)))


@register_proxy("grad_norm", batch_size=64, description="sum of per-layer weight-gradient norms")
def _grad_norm(net: nn.Module, x: torch.Tensor, y) -> float:
    net.train()
    y = _labels(net, x, y)
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    return float(sum(w.grad.norm() for w in _weights(net)))


@register_proxy("zen", batch_size=64, description="Zen-score: expressivity of Gaussian nets")
def _zen(net: nn.Module, x: torch.Tensor, y, mixup_gamma: float = 1e-2) -> float:
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    features = getattr(net, "forward_features", None) or net.forward
    log_bn: list[torch.Tensor] = []

    def hook(_mod, inputs, _out):
        v = inputs[0].detach().to(torch.float64)
        dims = [d for d in range(v.ndim) if d != 1]
        log_bn.append(torch.log(torch.sqrt(v.var(dim=dims, unbiased=False).mean())))

    hooks = [
        m.register_forward_hook(hook)
        for m in net.modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
    ]
    net.train()
    eps = torch.randn_like(x)
    with torch.no_grad():
        try:
            out = features(x)
        finally:
            for h in hooks:
                h.remove()
        mixed = features(x + mixup_gamma * eps)
    diff = (out - mixed).abs().to(torch.float64)
    delta = diff.reshape(diff.shape[0], -1).sum(1).mean()
    return float(torch.log(delta) + sum(log_bn, torch.zeros((), dtype=torch.float64)))


@register_proxy("params", batch_size=1, description="parameters (millions), a baseline")
def _params(net: nn.Module, x: torch.Tensor, y) -> float:
    return sum(p.numel() for p in net.parameters()) / 1e6


@register_proxy("flops", batch_size=1, description="GFLOPs per image, a baseline")
def _flops(net: nn.Module, x: torch.Tensor, y) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    net.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x[:1])
    return counter.get_total_flops() / 1e9


# -- real batches -------------------------------------------------------------------------------
def batch_from_dataset(
    dataset: str | os.PathLike,
    batch_size: int = 64,
    resolution: int | None = None,
    *,
    seed: int = 0,
    split: str = "train",
    val_dataset: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    in_chans: int = 3,
) -> Batch:
    """A normalised batch ``(x, y)`` of ``batch_size`` images drawn (seeded) from a dataset
    source of :mod:`.data`, resized to ``resolution`` (default: the images' own size)."""
    data = load_dataset(dataset, seed=seed, val=val_dataset, root=root)
    xs, ys = (data.train_x, data.train_y) if split == "train" else (data.val_x, data.val_y)
    if batch_size > len(ys):
        raise ConfigError(f"batch_size {batch_size} exceeds the {len(ys)} {split} images")
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ys), generator=g)[:batch_size]
    mean, std = data.mean_std()
    x = xs[idx].float().div(255.0)
    x = (x - torch.tensor(mean).view(1, -1, 1, 1)) / torch.tensor(std).view(1, -1, 1, 1)
    if resolution is not None and tuple(x.shape[-2:]) != (resolution, resolution):
        x = F.interpolate(x, size=(resolution, resolution), mode="bilinear", align_corners=False)
    if x.shape[1] == 1 and in_chans != 1:
        x = x.expand(-1, in_chans, -1, -1).contiguous()
    return x, ys[idx].clone()
