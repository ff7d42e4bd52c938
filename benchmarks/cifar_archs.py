"""Five ImageNet-style architectures of different size for the CIFAR-10 proxy benchmark.

Each is an ``Arch`` at its ImageNet resolution; the benchmark trains it at 32 px with its
total stride capped (``max_stride``). With ``source="auto"`` the project's spaces provide
what they can: ``genet``'s ``genet-light`` and ``efficientnet``'s ``efficientnet-b0``
references, and GENet's ``xx`` block (a ResNet basic block: two 3×3 convs, residual, 1×1
projection where shapes change) for the ResNet-18. Without those spaces (``source=
"foundation"``) stand-ins made of the foundation's block types (``conv``, ``s2d``,
``mbconv``, ``fused``) are used:

* ``resnet18-like``: ResNet-18's widths and depths (64-128-256-512, 2 blocks each), a 3×3
  stride-2 stem; the max-pool's stride moves into the first stage; basic blocks are ``xx``
  (or fused-MBConv e1: 3×3 conv + 1×1 projection, in the foundation stand-in);
* ``genet-light``: GENet-light (Lin et al., Table 2); stand-in: XX as fused e1, BL as fused
  e0.25, DW as MBConv e3;
* ``effnet-b0``: EfficientNet-B0; stand-in: its MBConv stages (SE 0.25, swish);
* ``effnet-x-b0-w0.5``: EfficientNet-X-B0 (the ``efficientnet_x`` space's reference) at
  half width (``scaling.scale(width=0.5)``);
* ``mobile-tiny``: a MobileNetV2-0.5-like MBConv e4 net.
"""

from __future__ import annotations

from collections.abc import Callable

from accelsearch.arch import Arch, Head, Stage


def resnet18_basic() -> Arch:
    """ResNet-18 with real basic blocks (GENet's ``xx`` block type)."""
    return Arch(
        resolution=224,
        stem=Stage("conv", 64, kernel=3, stride=2),
        stages=(
            Stage("xx", 64, depth=2, stride=2),
            Stage("xx", 128, depth=2, stride=2),
            Stage("xx", 256, depth=2, stride=2),
            Stage("xx", 512, depth=2, stride=2),
        ),
        head=Head(0),
    )


def resnet18_like() -> Arch:
    return Arch(
        resolution=224,
        stem=Stage("conv", 64, kernel=3, stride=2),
        stages=(
            Stage("conv", 64, kernel=3, stride=2),
            Stage("fused", 64, depth=2, stride=1, expansion=1),
            Stage("fused", 128, depth=2, stride=2, expansion=1),
            Stage("fused", 256, depth=2, stride=2, expansion=1),
            Stage("fused", 512, depth=2, stride=2, expansion=1),
        ),
        head=Head(0),
    )


def genet_light_like() -> Arch:
    return Arch(
        resolution=192,
        stem=Stage("conv", 13, kernel=3, stride=2),
        stages=(
            Stage("fused", 48, depth=1, stride=2, expansion=1),
            Stage("fused", 48, depth=3, stride=2, expansion=1),
            Stage("fused", 384, depth=7, stride=2, expansion=0.25),
            Stage("mbconv", 560, depth=2, stride=2, expansion=3),
            Stage("mbconv", 256, depth=1, stride=1, expansion=3),
        ),
        head=Head(1920),
    )


def effnet_b0_like() -> Arch:
    def mb(c, r, k, s, e):
        return Stage("mbconv", c, depth=r, kernel=k, stride=s, expansion=e, se=0.25, act="swish")

    return Arch(
        resolution=224,
        stem=Stage("conv", 32, kernel=3, stride=2, act="swish"),
        stages=(
            mb(16, 1, 3, 1, 1),
            mb(24, 2, 3, 2, 6),
            mb(40, 2, 5, 2, 6),
            mb(80, 3, 3, 2, 6),
            mb(112, 3, 5, 1, 6),
            mb(192, 4, 5, 2, 6),
            mb(320, 1, 3, 1, 6),
        ),
        head=Head(1280, act="swish", dropout=0.2),
    )


def effnet_x_b0_half() -> Arch:
    from accelsearch import spaces
    from accelsearch.scaling import scale

    return scale(spaces.get("efficientnet_x").reference("efficientnet-x-b0"), width=0.5)


def mobile_tiny() -> Arch:
    def mb(c, r, s, e=4):
        return Stage("mbconv", c, depth=r, kernel=3, stride=s, expansion=e)

    return Arch(
        resolution=224,
        stem=Stage("conv", 16, kernel=3, stride=2),
        stages=(
            mb(16, 1, 1, 1),
            mb(24, 2, 2),
            mb(40, 2, 2),
            mb(80, 2, 2),
            mb(112, 1, 1),
            mb(160, 1, 2),
        ),
        head=Head(640),
    )


FOUNDATION: dict[str, Callable[[], Arch]] = {
    "resnet18-like": resnet18_like,
    "genet-light": genet_light_like,
    "effnet-b0": effnet_b0_like,
    "effnet-x-b0-w0.5": effnet_x_b0_half,
    "mobile-tiny": mobile_tiny,
}
#: name -> (space, reference) used instead of the stand-in when that space exists
REFERENCES = {
    "genet-light": ("genet", "genet-light"),
    "effnet-b0": ("efficientnet", "efficientnet-b0"),
}


def get(name: str, source: str = "auto") -> tuple[Arch, str]:
    """(arch, where it came from) for a benchmark architecture name."""
    from accelsearch import spaces

    if name not in FOUNDATION:
        raise SystemExit(f"unknown architecture {name!r}; choose from {', '.join(FOUNDATION)}")
    if source == "auto" and name in REFERENCES:
        space, ref = REFERENCES[name]
        if space in spaces.list():
            try:
                return spaces.get(space).reference(ref), f"spaces.{space}:{ref}"
            except KeyError:
                pass
    if name == "effnet-x-b0-w0.5":
        return effnet_x_b0_half(), "spaces.efficientnet_x:efficientnet-x-b0, scale(width=0.5)"
    if source == "auto" and name == "resnet18-like" and "genet" in spaces.list():
        return resnet18_basic(), "genet xx blocks (ResNet basic blocks)"
    return FOUNDATION[name](), "foundation blocks (benchmarks/cifar_archs.py)"
