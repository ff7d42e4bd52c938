"""Recipes: the YAML a user writes, validated before anything runs.

Every section forbids unknown fields; names (space, latency backend, evaluator, strategy)
are checked against the registries; an error names the file, the field path and the valid
choices. ``--set a.b=value`` overrides are applied to the raw YAML before validation.

This module holds the whole recipe and its loading; the section models are in
:mod:`accelsearch.recipe_sections` and the input-path checks in :mod:`accelsearch.recipe_paths`,
both importable from here as before.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from accelsearch.baselines_spec import BaselinesSpec as BaselinesSpec
from accelsearch.core.errors import AccelSearchError, ConfigError
from accelsearch.core.options import option_names
from accelsearch.objectives import accuracy
from accelsearch.objectives.latency_spec import LatencySpec as LatencySpec
from accelsearch.recipe_data import MissingData as MissingData
from accelsearch.recipe_input import apply_overrides as apply_overrides
from accelsearch.recipe_input import format_validation_error as format_validation_error
from accelsearch.recipe_input import read_recipe_file as read_recipe_file
from accelsearch.recipe_input import value_problems as value_problems
from accelsearch.recipe_paths import OUTPUT_PREFIXES as OUTPUT_PREFIXES
from accelsearch.recipe_paths import PATH_OPTIONS as PATH_OPTIONS
from accelsearch.recipe_paths import PATH_SUFFIXES as PATH_SUFFIXES
from accelsearch.recipe_paths import check_input_paths as check_input_paths
from accelsearch.recipe_paths import looks_like_path as looks_like_path
from accelsearch.recipe_sections import OPTION_ERRORS as OPTION_ERRORS
from accelsearch.recipe_sections import AccuracySpec as AccuracySpec
from accelsearch.recipe_sections import RewardSpec as RewardSpec
from accelsearch.recipe_sections import ScalingSpec as ScalingSpec
from accelsearch.recipe_sections import SchedulerSpec as SchedulerSpec
from accelsearch.recipe_sections import ScreenSpec as ScreenSpec
from accelsearch.recipe_sections import SearchSpec as SearchSpec
from accelsearch.recipe_sections import SpaceSpec as SpaceSpec
from accelsearch.recipe_sections import StrictSection
from accelsearch.recipe_sections import TrackingSpec as TrackingSpec
from accelsearch.search import strategy

#: what a recipe name may look like: it names the run folder, the MLflow experiment and,
#: with ``accelsearch submit``, a path in a shell command on the cluster
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"


class Recipe(StrictSection):
    """A whole run: search a space, then grow the best model into a family.

    ``missing_data``: input files the recipe names that were not found, when it was loaded
    with ``check_data=False`` (``accelsearch validate``); empty otherwise.
    """

    name: str
    description: str = ""
    seed: int = 0
    num_classes: int | None = Field(None, ge=1)
    space: SpaceSpec
    latency: LatencySpec = Field(default_factory=LatencySpec)
    accuracy: AccuracySpec = Field(default_factory=AccuracySpec)
    reward: RewardSpec
    search: SearchSpec = Field(default_factory=SearchSpec)
    scaling: ScalingSpec = Field(default_factory=lambda: ScalingSpec(enabled=False))
    baselines: BaselinesSpec = Field(default_factory=BaselinesSpec)
    tracking: TrackingSpec = Field(default_factory=TrackingSpec)
    _missing_data: list[MissingData] = PrivateAttr(default_factory=list)

    @property
    def missing_data(self) -> list[MissingData]:
        return list(self._missing_data)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not re.fullmatch(NAME_PATTERN, v):
            raise ValueError(
                "not allowed: the name makes the run folder's name and may reach a shell; use "
                "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 100 "
                f"characters (pattern {NAME_PATTERN}), e.g. 'quickstart-v2'"
            )
        return v

    @model_validator(mode="after")
    def _baselines_need_a_family(self) -> Recipe:
        if self.baselines.enabled and not self.scaling.enabled:
            raise ValueError(
                "baselines: the models are compared with the run's family, but scaling is "
                "disabled (no family is grown); enable scaling (scaling.targets) or drop "
                "the baselines section"
            )
        return self

    @model_validator(mode="after")
    def _confirm_can_reseed(self) -> Recipe:
        """search.confirm trains again on other seeds: the evaluator must take a seed."""
        names = option_names(accuracy.EVALUATORS.get(self.accuracy.evaluator)) or []
        if self.search.confirm.top and "seed" not in names:
            raise ValueError(
                f"search.confirm.top {self.search.confirm.top}: confirming trains the best "
                f"trials again on other seeds, but accuracy evaluator "
                f"{self.accuracy.evaluator!r} takes no seed (it gives the same accuracy every "
                "time); use accuracy.evaluator: train, or set search.confirm.top: 0"
            )
        return self

    @model_validator(mode="after")
    def _strategy_fits_space(self) -> Recipe:
        """search.strategy, its options and objectives against the space (no Ray, no trial)."""

        try:
            strategy.validate(
                self.search.strategy,
                self.space.make(),
                strategy.objective_from_options(self.search.options),
                self.search.seed,
                strategy.strategy_options(self.search.options),
            )
        except AccelSearchError as exc:
            raise ValueError(f"search.strategy: {exc}") from None
        except OPTION_ERRORS as exc:
            raise ValueError(
                f"search.options: bad option for strategy {self.search.strategy!r}: {exc}"
            ) from None
        return self


# -- loading --------------------------------------------------------------------------------
def recipe_from_dict(raw: Any, source: str = "recipe", check_data: bool = True) -> Recipe:
    """Validate a recipe mapping. ``check_data=False``: input data that does not exist is
    not an error but listed in ``recipe.missing_data``."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: a recipe must be a YAML mapping, got {type(raw).__name__}")
    problems = value_problems(raw)
    if problems:
        raise ConfigError("\n".join(f"{source}: {p}" for p in problems))
    missing: list[MissingData] = []
    context = None if check_data else {"missing_data": missing}
    try:
        recipe = Recipe.model_validate(raw, context=context)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, Recipe)) from None
    recipe._missing_data = missing
    return recipe


def load_recipe(
    path: str | Path, overrides: list[str] | None = None, check_data: bool = True
) -> Recipe:
    raw = read_recipe_file(path)
    raw = (
        apply_overrides(raw if isinstance(raw, dict) else {}, overrides or []) if overrides else raw
    )
    return recipe_from_dict(raw, str(path), check_data)
