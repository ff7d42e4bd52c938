"""Checks made before any baseline is measured or trained (so a bad name or a model that
cannot follow the proxy fails in seconds on the CPU, not after hours on the GPU).

For every baseline: timm knows the name (close matches otherwise, :func:`spec.check_names`);
it becomes an ``Arch`` (:func:`~accelsearch.spaces.timm_zoo.timm_arch`); it builds and runs a
forward pass at the resolution the run's proxy trains it at (its own ImageNet size × the
proxy's ``resolution_scale``, or the proxy's fixed ``resolution``) and at the resolution it
is timed at when ``baselines.resolution`` moves it from its own; and, when the proxy caps
the members' downsampling (``max_stride``), the model's last feature map is not smaller than
the members' (a whole timm model's strides cannot be capped, so it would be trained on a
coarser map than the members it is compared with).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import torch

from accelsearch import data as packaged_data
from accelsearch.baselines_spec import BaselinesSpec, check_names
from accelsearch.core.arch import Arch
from accelsearch.core.builder import build_model
from accelsearch.core.errors import AccelSearchError, ConfigError
from accelsearch.objectives.accuracy.table import TableAccuracy
from accelsearch.objectives.accuracy.train import TrainConfig, TrainEvaluator, cap_stride
from accelsearch.objectives.accuracy.train import train_resolution as proxy_resolution
from accelsearch.spaces.timm_zoo import TimmFeatures, default_cfg, timm_arch


@dataclass
class PlannedBaseline:
    """One baseline, checked: what is timed (``arch``) and what the proxy trains at."""

    model: str
    line: str
    arch: Arch  # at the resolution it is timed at
    train_resolution: int | None  # None: no proxy training (baselines.accuracy: false)
    resolution_rule: str  # how the training resolution follows from the proxy


def plan_baselines(
    spec: BaselinesSpec, recipe, measured: Collection[str] = ()
) -> list[PlannedBaseline]:
    """Every baseline of ``spec``, checked against ``recipe``'s proxy; one ``ConfigError``
    listing every problem (each with its fix) when any fails. Models in ``measured`` (already
    measured under these settings, see :func:`~accelsearch.baselines_measure.measured_models`)
    are not built again: a resumed piece does not pay for their checks."""
    check_names(spec.names)
    evaluator = recipe.accuracy.make() if spec.accuracy else None
    config = evaluator.config if isinstance(evaluator, TrainEvaluator) else None
    num_classes = recipe.num_classes or 1000
    planned, problems = [], []
    for line, names in spec.lines().items():
        for name in names:
            try:
                built = name not in measured
                planned.append(_plan_one(name, line, spec, config, evaluator, num_classes, built))
            except ConfigError as exc:
                problems.append(str(exc))
    if problems:
        raise ConfigError(
            f"{len(problems)} of {len(spec.names)} baseline(s) cannot be measured like the "
            "family's members:\n- " + "\n- ".join(problems)
        )
    return planned


def _plan_one(name, line, spec, config: TrainConfig | None, evaluator, num_classes, built=True):
    try:
        arch = timm_arch(name, spec.resolution)
    except (AccelSearchError, RuntimeError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"baseline {name!r} cannot be made into an Arch by timm_arch: "
            f"{type(exc).__name__}: {exc}; drop it from baselines.models"
        ) from None
    own = _own_resolution(name)
    timed = f"baselines.resolution {spec.resolution}, the size it is timed at"
    moved = spec.resolution is not None and spec.resolution != own
    if evaluator is None or config is None:
        if moved and built:
            _run_at(name, arch, arch.resolution, num_classes, None, timed, own)
        if evaluator is None:
            return PlannedBaseline(
                name, line, arch, None, "not trained (baselines.accuracy: false)"
            )
        # another evaluator (table, zero-cost proxy) sees the arch as it is
        rule = f"evaluated by {evaluator.name} at {arch.resolution} px"
        return PlannedBaseline(name, line, arch, arch.resolution, rule)
    res, rule = proxy_resolution(arch, config), _rule(arch, config)
    if built and moved and res != arch.resolution:
        _run_at(name, arch, arch.resolution, num_classes, None, timed, own)
    if built:
        _run_at(name, arch, res, num_classes, config.max_stride, rule, own)
    return PlannedBaseline(name, line, arch, res, rule)


def _own_resolution(name: str) -> int:
    return int(default_cfg(name).get("input_size", (3, 224, 224))[-1])


def _rule(arch: Arch, config: TrainConfig) -> str:
    if config.resolution is not None:
        return f"accuracy.options.resolution {config.resolution}"
    if config.resolution_scale is not None:
        return (
            f"{arch.resolution} px x accuracy.options.resolution_scale "
            f"{config.resolution_scale}, rounded to a multiple of {config.resolution_multiple}"
        )
    return f"the size it is timed at, {arch.resolution} px"


def _run_at(name, arch, res, num_classes, max_stride, rule, own) -> None:
    """Build ``arch`` at ``res`` px and run one image through it (CPU, no gradients)."""
    fixed = bool(default_cfg(name).get("fixed_input_size"))
    at = cap_stride(arch, max_stride).replace(resolution=res)
    x = torch.zeros(1, arch.in_chans, res, res)
    try:
        model = build_model(at, num_classes=num_classes).eval()
        with torch.no_grad():
            model(x)
            fmap = _feature_map(model, x) if max_stride else None
    except (AccelSearchError, RuntimeError, ValueError, AssertionError, TypeError) as exc:
        why = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
        kind = "timm fixes its input size (fixed_input_size) and it" if fixed else "it"
        raise ConfigError(
            f"baseline {name!r} cannot follow the proxy's resolution: {kind} fails at {res} px "
            f"({rule}) with {why}; drop it from baselines.models, or give a resolution it "
            f"accepts (its ImageNet size is {own} px; e.g. accuracy.options.resolution or "
            "baselines.resolution)"
        ) from None
    if fmap is not None and fmap * max_stride < res:
        raise ConfigError(
            f"baseline {name!r} ends on a {fmap}x{fmap} map at {res} px, but "
            f"accuracy.options.max_stride {max_stride} keeps the family's members at "
            f"{math.ceil(res / max_stride)}x{math.ceil(res / max_stride)}: a whole timm model's "
            "strides cannot be capped, so it would not be trained like the members; set "
            "accuracy.options.max_stride: null (with resolution_scale), or baselines.accuracy: "
            "false for latency only"
        )


def _feature_map(model: torch.nn.Module, x: torch.Tensor) -> int | None:
    """Side of the last spatial feature map of the timm model inside ``model`` (None when
    its features are tokens, as in a ViT, or it has no timm stage)."""
    for module in model.modules():
        if isinstance(module, TimmFeatures):
            fmap = module.model.forward_features(x)
            return int(fmap.shape[-1]) if fmap.ndim == 4 else None
    return None


def published_top1(name: str, table: TableAccuracy | None = None) -> dict[str, Any]:
    """timm's published ImageNet top-1 of ``name`` (its default pretrained tag's row, from the
    table packaged in :mod:`accelsearch.data`): ``{top1, table_model, img_size}``, or
    ``{}`` when the table does not list it."""
    table = table if table is not None else imagenet_table()
    tag = default_cfg(name).get("tag")
    base = name.split(".", 1)[0]
    for key in (name, f"{base}.{tag}" if tag else None, base):
        if key and key in table:
            row = table.row(key)
            return {
                "top1": table.lookup(key),
                "table_model": table.resolve(key),
                "img_size": row.get("img_size"),
            }
    return {}


def imagenet_table() -> TableAccuracy:
    return TableAccuracy.timm(packaged_data.timm_imagenet_results())
