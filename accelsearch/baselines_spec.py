"""The ``baselines`` recipe section, baseline names and how models are grouped into lines.

```yaml
baselines:
  models: [efficientnet_b0, efficientnet_b1, efficientnet_b2, efficientnet_b3,
           resnet18, resnet34, resnet50, gernet_s, gernet_m, gernet_l]
  accuracy: true        # proxy-train each with the run's accuracy evaluator (false: latency only)
  resolution: null      # input size; default: each model's own ImageNet size (timm's config)
```

``models`` may also be a mapping ``{line label: [names]}`` to group the models by hand;
a list is grouped by name (:func:`line_of`): ``efficientnet_b0…b3`` form one line,
``resnet18/34/50`` another, ``gernet_s/m/l`` a third.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from accelsearch.core.errors import ConfigError, short_repr

#: last name tokens that name a model's size (``gernet_s``, ``convnext_tiny``)
SIZE_WORDS = frozenset(
    "xxs xs s m l xl xxl pico nano micro tiny small medium base large huge giant".split()
)


class BaselinesSpec(BaseModel):
    """Published timm models measured and proxy-trained like the family's members.

    ``models``: timm model names (grouped into lines by name), or ``{label: [names]}``.
    ``accuracy``: proxy-train each with the run's accuracy evaluator (false: latency only,
    no comparison of accuracy). ``resolution``: the input size the models are built and
    timed at (default: each model's own ImageNet size from timm's pretrained config); a
    scaled proxy (``accuracy.options.resolution_scale``) trains each at that size × scale.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    models: list[str] | dict[str, list[str]] = Field(default_factory=list)
    accuracy: bool = True
    resolution: int | None = Field(None, ge=8)

    @field_validator("models")
    @classmethod
    def _known(cls, v: list[str] | dict[str, list[str]]) -> list[str] | dict[str, list[str]]:
        names = [n for group in v.values() for n in group] if isinstance(v, dict) else list(v)
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"model(s) {twice} listed more than once; list each model once")
        check_names(names, field="")  # pydantic puts the field path in front
        return v

    @property
    def enabled(self) -> bool:
        return bool(self.names)

    @property
    def names(self) -> list[str]:
        """Every model, in the order given."""
        if isinstance(self.models, dict):
            return [n for group in self.models.values() for n in group]
        return list(self.models)

    def lines(self) -> dict[str, list[str]]:
        """``{line label: [model names]}``: the given mapping, or the list grouped by name."""
        if isinstance(self.models, dict):
            return {label: list(group) for label, group in self.models.items() if group}
        return group_lines(self.models)


@functools.lru_cache(maxsize=1)
def _timm_names() -> tuple[str, ...]:
    import timm  # heavy optional import: only recipes with baselines pay for it

    return tuple(timm.list_models())


def check_names(names: list[str], field: str = "baselines.models") -> None:
    """Fail, naming close matches from ``timm.list_models()``, when timm lacks a name;
    ``field`` starts the message (the recipe field or command-line option)."""
    import timm  # heavy optional import, see _timm_names

    problems = []
    for name in names:
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            problems.append(f"{short_repr(name, 60)} is not a model name")
            continue
        if timm.is_model(name):
            continue
        close = difflib.get_close_matches(name, _timm_names(), n=5, cutoff=0.6)
        hint = f"close matches: {', '.join(close)}" if close else "no close match"
        problems.append(f"timm has no model {name!r} ({hint})")
    if problems:
        raise ConfigError(
            (f"{field}: " if field else "")
            + "; ".join(problems)
            + "; see timm.list_models('pattern*') for the names"
        )


def _size_pattern(name: str) -> tuple[str, str]:
    """(line key, size token) of a model name: ``efficientnet_b3`` -> (``efficientnet_b*``,
    ``3``), ``resnet50`` -> (``resnet*``, ``50``), ``gernet_l`` -> (``gernet_*``, ``l``)."""
    base = name.split(".", 1)[0]  # no pretrained tag
    head, sep, last = base.rpartition("_")
    if sep and last in SIZE_WORDS:
        return f"{head}_*", last
    if sep:
        m = re.fullmatch(r"([a-z]*)(\d+)([a-z]*)", last)
        if m:
            return f"{head}_{m.group(1)}*{m.group(3)}", m.group(2)
        return base, ""
    m = re.fullmatch(r"(.*?[a-z])(\d+)([a-z]?)", base)
    if m:
        return f"{m.group(1)}*{m.group(3)}", m.group(2)
    return base, ""


def line_of(name: str) -> str:
    """The line key a model belongs to (``efficientnet_b*``, ``resnet*``, ``gernet_*``)."""
    return _size_pattern(name)[0]


def group_lines(names: list[str]) -> dict[str, list[str]]:
    """Models grouped into lines by name, labelled by their sizes: ``efficientnet_b{0,1,2,3}``,
    ``resnet{18,34,50}``, ``gernet_{s,m,l}``; a model alone keeps its own name."""
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(line_of(name), []).append(name)
    out: dict[str, list[str]] = {}
    for key, members in groups.items():
        if len(members) == 1 or "*" not in key:
            for m in members:
                out[m if len(members) == 1 else f"{key} ({m})"] = [m]
            continue
        sizes = ",".join(_size_pattern(m)[1] for m in members)
        out[key.replace("*", "{" + sizes + "}", 1)] = members
    return out


def spec_from_options(
    recipe_spec: BaselinesSpec,
    models: list[str] | None = None,
    accuracy: bool | None = None,
    resolution: int | None = None,
) -> BaselinesSpec:
    """The recipe's section with command-line choices put over it (validated again)."""
    data: dict[str, Any] = recipe_spec.model_dump()
    if models is not None:
        data["models"] = models
    if accuracy is not None:
        data["accuracy"] = accuracy
    if resolution is not None:
        data["resolution"] = resolution
    return BaselinesSpec.model_validate(data)
