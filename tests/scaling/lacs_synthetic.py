"""Deterministic synthetic latency for scaling tests (no torch, no timing noise).

``synthetic_ms`` is FLOPs-like (depth × width² × area per stage) plus a per-block launch
cost, so it is a monotone step function of φ through rounding and not exactly what the
FLOPs predictor assumes. ``noisy`` adds a deterministic ±``eps`` factor keyed by the arch.
"""

from __future__ import annotations

import hashlib

from accelsearch.core.arch import Arch, Head, Stage


def small_base(resolution: int = 224) -> Arch:
    return Arch(
        resolution=resolution,
        stem=Stage("conv", width=32, kernel=3, stride=2),
        stages=(
            Stage("mbconv", width=32, depth=1, kernel=3, stride=1),
            Stage("mbconv", width=48, depth=2, kernel=3, stride=2, expansion=4),
            Stage("fused", width=80, depth=2, kernel=3, stride=2, expansion=4),
            Stage("mbconv", width=160, depth=3, kernel=3, stride=2, expansion=4),
        ),
        head=Head(width=640),
    )


def synthetic_ms(arch: Arch) -> float:
    side = arch.resolution / 2
    prev = arch.stem.width if arch.stem else arch.in_chans
    flops = 3 * prev * side * side
    blocks = 0
    for st in arch.stages:
        side /= st.stride
        flops += st.depth * max(prev, st.width) * st.width * st.expansion * side * side
        prev = st.width
        blocks += st.depth
    if arch.head is not None and arch.head.width:
        flops += prev * arch.head.width * side * side
    return 0.05 + 0.01 * blocks + flops * 2e-9


def jitter(arch: Arch, eps: float) -> float:
    h = int(hashlib.sha256(arch.to_json(indent=None).encode()).hexdigest()[:8], 16)
    return 1.0 + eps * (2.0 * (h / 0xFFFFFFFF) - 1.0)


def noisy(eps: float):
    def fn(arch: Arch) -> float:
        return synthetic_ms(arch) * jitter(arch, eps)

    return fn


def compared_family(cost=None):
    """A two-target LACS family of ``small_base`` on synthetic latency (accuracy grows with
    depth), with its EfficientNet-coefficient comparison; ``cost`` as ``LACS.run`` takes it."""
    from accelsearch.scaling import EFFICIENTNET_COEFFICIENTS, LACS

    base = small_base(resolution=32)
    lacs = LACS(
        grid=[(1.4, 1.0, 1.0), EFFICIENTNET_COEFFICIENTS],
        latency=synthetic_ms,
        accuracy=lambda arch: 50.0 + sum(s.depth for s in arch.stages),
        printer=lambda s: None,
    )
    ms = synthetic_ms(base)
    family = lacs.run(base, [ms * 1.5, ms * 2.5], name="fam", cost=cost)
    lacs.compare(family, cost=cost)
    return family
