"""``timm_zoo``: a discrete space whose choices are timm model names.

Useful as a baseline (how do hand-designed families fare on this accelerator?) and as a
pool for searches that only pick among existing models. The choices are
``timm.list_models(pattern)`` minus ``exclude`` (or an explicit ``models`` list); a model
is built with ``timm.create_model(name, pretrained=False, num_classes=0)``, i.e. random
weights and timm's own initialisation, and the ``Arch``'s head adds the classifier.

An ``Arch`` of this space is one stage of type ``timm`` whose ``ops`` holds the model name
and whose ``width`` is the model's feature width (``head_hidden_size``, else
``num_features``), with no stem and a head without conv:
``i224-timm_r1_k1_s1_c512_arelu_o[resnet18]-head_c0_arelu``. Such a stage cannot be made
wider or deeper (scale its resolution only); building fails, naming the field, if the
width disagrees with the model.
"""

from __future__ import annotations

import fnmatch
import functools
from collections.abc import Sequence
from typing import Any

from torch import nn

from accelsearch.core.arch import Arch, Head, Stage
from accelsearch.core.blocks import BuildContext, ChainState, register_block, where
from accelsearch.core.errors import ArchError, ConfigError, short_repr
from accelsearch.spaces.base import SearchSpace
from accelsearch.spaces.distributions import Categorical, Ordinal
from accelsearch.spaces.registry import register_space


def _create(name: str, in_chans: int = 3, resolution: int | None = None, **kw: Any) -> nn.Module:
    import timm

    cfg = default_cfg(name)
    if resolution is not None and cfg.get("fixed_input_size"):
        kw["img_size"] = resolution
    return timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_chans, **kw)


def default_cfg(name: str) -> dict[str, Any]:
    """timm's pretrained config of ``name`` as a dict (input size, fixed size, ...)."""
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return cfg.to_dict() if cfg is not None else {}


@functools.lru_cache(maxsize=4096)
def feature_width(name: str, in_chans: int = 3) -> int:
    """Width of ``name``'s pre-logits features, cached per model.

    The model is made on the meta device (no memory, no initialisation) when it can be;
    one whose construction needs real tensor values (RegNet in timm 1.0.16-1.0.24 calls
    ``torch.unique`` and ``.item()`` on its stage widths) is built on the CPU instead.
    """
    import torch

    try:
        with torch.device("meta"):
            model = _create(name, in_chans)
    except Exception:  # noqa: BLE001 - any failure on meta: the CPU build below is the judge
        model = _create(name, in_chans)
    return _width(model)


def _width(model: nn.Module) -> int:
    return int(getattr(model, "head_hidden_size", None) or model.num_features)


class TimmFeatures(nn.Module):
    """A timm model without classifier; returns its pre-logits features as ``(N, C, 1, 1)``."""

    keeps_own_init = True  # the builder leaves timm's initialisation alone

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x):
        y = self.model(x)
        if y.ndim == 2:
            y = y[:, :, None, None]
        return y


def _timm_rule(stage: Stage, state: ChainState) -> tuple[int, int]:
    if not state.first:
        raise ArchError(
            f"{where(state.index, stage)} field 'type' is 'timm': a whole timm model takes the "
            "image itself, so it must be the first stage and the arch has no stem"
        )
    return stage.width, 1


@register_block("timm", chain=_timm_rule, fixed_depth=True, fixed_width=True)
def _timm_stage(stage: Stage, in_chs: int, ctx: BuildContext) -> tuple[list[nn.Module], int]:
    if len(stage.ops) != 1:
        raise ArchError(
            f"Stage('timm').ops must hold exactly one timm model name, got {stage.ops!r}"
        )
    name = stage.ops[0]
    import timm

    if not timm.is_model(name):
        raise ArchError(f"Stage('timm').ops names {name!r}, which timm does not know")
    if stage.depth != 1:
        raise ArchError(f"Stage('timm').depth must be 1 (one whole model), got {stage.depth}")
    ctx.next_drop_path()
    model = _create(name, in_chs, ctx.resolution)
    width = _width(model)
    if stage.width != width:
        raise ArchError(
            f"Stage('timm').width is {stage.width}, but {name} outputs {width} features; a "
            f"timm model's width cannot change (set width={width}, scale resolution only)"
        )
    return [TimmFeatures(model)], width


def timm_arch(name: str, resolution: int | None = None, in_chans: int = 3) -> Arch:
    """The ``Arch`` of timm model ``name`` (default resolution: timm's pretrained config)."""
    import timm

    if not timm.is_model(name):
        raise ArchError(f"timm has no model {name!r}; see timm.list_models()")
    res = resolution or int(default_cfg(name).get("input_size", (3, 224, 224))[-1])
    return Arch(
        resolution=res,
        stages=(Stage("timm", width=feature_width(name, in_chans), kernel=1, ops=(name,)),),
        stem=None,
        head=Head(width=0, act="relu", dropout=0.0),
        in_chans=in_chans,
    )


def _check_names(option: str, value: Any) -> None:
    """``models``/``pattern``/``exclude``: a name or a list of names (texts), or nothing."""
    if value is None or isinstance(value, str) and option != "models":
        return
    names = value if isinstance(value, (list, tuple)) else None
    bad = [v for v in names if not isinstance(v, str)] if names is not None else [value]
    if bad:
        raise ConfigError(
            f"timm_zoo option {option} must be timm model names (texts) such as "
            f"resnet18.a1_in1k; these are not: {short_repr(bad)} (quote a name YAML reads as "
            "a number, a date or true/false)"
        )


@register_space("timm_zoo")
class TimmZooSpace(SearchSpace):
    """timm models as choices (``pattern``/``exclude`` filters or an explicit ``models`` list).

    Options: ``pattern`` (str or list of fnmatch patterns, default ``"*"``: every timm
    model), ``exclude`` (patterns to drop), ``models`` (explicit names, overrides
    ``pattern``), ``resolutions`` (searched input sizes; default: each model's own),
    ``in_chans`` (3).
    """

    source = "timm (Wightman, pytorch-image-models): timm.list_models / timm.create_model"

    def __init__(
        self,
        *,
        pattern: str | Sequence[str] = "*",
        exclude: Sequence[str] = (),
        models: Sequence[str] | None = None,
        resolutions: Sequence[int] | None = None,
        in_chans: int = 3,
    ) -> None:
        import timm

        for option, value in (("models", models), ("pattern", pattern), ("exclude", exclude)):
            _check_names(option, value)
        if models is not None:
            names = list(dict.fromkeys(models))
            unknown = [n for n in names if not timm.is_model(n)]
            if unknown:
                raise ConfigError(f"timm_zoo option models has names timm does not know: {unknown}")
        else:
            patterns = [pattern] if isinstance(pattern, str) else list(pattern)
            names = timm.list_models(patterns, exclude_filters=list(exclude))
        names = [n for n in names if not any(fnmatch.fnmatch(n, e) for e in exclude)]
        if not names:
            raise ConfigError(
                f"timm_zoo: no timm model matches pattern {pattern!r} (exclude {list(exclude)}); "
                "try e.g. 'resnet*' or 'efficientnet_b*'"
            )
        self.models = tuple(sorted(names))
        self.resolutions = tuple(sorted(int(r) for r in resolutions)) if resolutions else None
        self.in_chans = int(in_chans)

    def params(self) -> dict[str, Any]:
        p: dict[str, Any] = {"model": Categorical(self.models)}
        if self.resolutions:
            p["resolution"] = Ordinal(self.resolutions)
        return p

    def decode(self, params: dict[str, Any]) -> Arch:
        self.validate_params(params)
        arch = timm_arch(params["model"], params.get("resolution"), self.in_chans)
        return self.checked(arch)

    def encode(self, arch: Arch) -> dict[str, Any]:
        if len(arch.stages) != 1 or arch.stages[0].type != "timm" or not arch.stages[0].ops:
            raise ArchError(
                "arch is not a point of timm_zoo: it needs exactly one stage of type 'timm' "
                "naming the model in ops"
            )
        params: dict[str, Any] = {"model": arch.stages[0].ops[0]}
        if self.resolutions:
            params["resolution"] = arch.resolution
        try:
            self.validate_params(params)
        except ConfigError as exc:
            raise ArchError(f"arch is not a point of this timm_zoo space: {exc}") from None
        if self.decode(params) != arch:
            raise ArchError(
                "arch is not a point of this timm_zoo space: its resolution, width or head "
                "differs from what the space makes of the model"
            )
        return params

    def references(self):
        return {name: (lambda n=name: timm_arch(n, in_chans=self.in_chans)) for name in self.models}
