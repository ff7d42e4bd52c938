"""Recipes: the YAML a user writes, validated before anything runs.

Every section forbids unknown fields; names (space, latency backend, evaluator, strategy)
are checked against the registries; an error names the file, the field path and the valid
choices. ``--set a.b=value`` overrides are applied to the raw YAML before validation.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from accelsearch import search, spaces
from accelsearch.baselines_spec import BaselinesSpec
from accelsearch.core.errors import AccelSearchError, ConfigError, choices_text, short_repr
from accelsearch.core.kinds import check_options
from accelsearch.core.options import check_option_names
from accelsearch.objectives import accuracy
from accelsearch.objectives.latency_spec import LatencySpec as LatencySpec
from accelsearch.recipe_data import MissingData
from accelsearch.recipe_input import (
    apply_overrides,
    format_validation_error,
    read_recipe_file,
    value_problems,
)
from accelsearch.scaling.predict import PREDICTORS
from accelsearch.search import strategy
from accelsearch.search.budget import Budget
from accelsearch.search.screen import SCREEN_PREDICTORS
from accelsearch.search.strategy import METRIC_MODES

#: what a recipe name may look like: it names the run folder, the MLflow experiment and,
#: with ``accelsearch submit``, a path in a shell command on the cluster
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$"
#: exceptions a space or evaluator constructor raises for an option of the wrong kind
#: (a list where a number belongs, infinity for a size, ...): reported with the section
OPTION_ERRORS = (TypeError, ValueError, OverflowError)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class SpaceSpec(_Strict):
    """Which search space, and the options its constructor takes."""

    name: str
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in spaces.list():
            raise ValueError(f"unknown space {v!r}; valid choices: {choices_text(spaces.list())}")
        return v

    @model_validator(mode="after")
    def _options(self) -> SpaceSpec:
        try:
            cls = spaces.SPACES.get(self.name)
            check_option_names(cls, self.options, f"space {self.name!r}")  # with a "did you mean"
            check_options(cls.__init__, self.options, "space.options", owner=f"space {self.name!r}")
            spaces.get(self.name, **self.options)
        except AccelSearchError as exc:
            raise ValueError(str(exc)) from None
        except OPTION_ERRORS as exc:
            raise ValueError(f"bad option for space {self.name!r}: {exc}") from None
        return self

    def make(self):
        return spaces.get(self.name, **self.options)


#: option names that hold an input file or folder (also any name ending in one of PATH_SUFFIXES)
PATH_OPTIONS = ("dataset", "val", "val_dataset", "data_root", "csv", "root", "path", "data_dir")
PATH_SUFFIXES = ("_path", "_dir", "_csv", "_file")
#: options named so are outputs (``log_path``, ``out_dir``, ``cache_dir``...): made absolute,
#: never required to exist
OUTPUT_PREFIXES = ("log", "out", "save", "cache", "checkpoint", "export")


def looks_like_path(value: Any) -> bool:
    """A string option that names a file or folder (``data/x``, ``~/x``, ``x.csv``), not a
    bundled name (``digits``, ``torchvision:CIFAR10``, ``nb201``) or a URL."""
    if (
        not isinstance(value, str)
        or not value
        or "://" in value
        or value.startswith("torchvision:")
    ):
        return False
    return "/" in value or "\\" in value or value.startswith("~") or bool(Path(value).suffix)


def check_input_paths(
    options: dict[str, Any], missing: list[MissingData] | None = None
) -> dict[str, Any]:
    """Fail, naming the option, when an input file or folder of ``options`` does not exist;
    else make it absolute. Relative paths start from the working directory, and become
    absolute here because trials run elsewhere (Ray Tune starts each in its own folder).
    With a ``missing`` list, a path that does not exist is added to it instead (and made
    absolute all the same): ``accelsearch validate`` warns about it."""
    from pydantic_core import PydanticCustomError

    out = dict(options)
    for key, value in options.items():
        named = key in PATH_OPTIONS or key.endswith(PATH_SUFFIXES)
        if not (named and looks_like_path(value)):
            continue
        path = Path(value).expanduser()
        if key.startswith(OUTPUT_PREFIXES):
            out[key] = str(path.resolve())
            continue
        try:
            exists = path.exists()
        except OSError as exc:  # a name too long for the file system, ...
            raise PydanticCustomError(
                "path_invalid",
                "{path_text} cannot be a path here ({reason}); fix the path, or override it "
                "with --set",
                {"option": key, "path_text": short_repr(value, 80), "reason": exc.strerror},
            ) from None
        if not exists:
            gap = MissingData(key, value, str(Path.cwd()))
            if missing is None:
                raise PydanticCustomError(
                    "path_missing",
                    "{problem}; {how}",
                    {"option": key, "problem": gap.problem(), "how": gap.how_to_get()},
                )
            missing.append(gap)
        out[key] = str(path.resolve())
    return out


def _missing_data(info: ValidationInfo) -> list[MissingData] | None:
    """The list missing input data goes to when a recipe is validated without its data."""
    return (info.context or {}).get("missing_data") if info is not None else None


class AccuracySpec(_Strict):
    """Which accuracy evaluator, and its options (e.g. dataset, epochs for ``train``)."""

    evaluator: str = "train"
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _paths(cls, v: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        return check_input_paths(v, _missing_data(info))

    @field_validator("evaluator")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in accuracy.EVALUATORS:
            raise ValueError(
                f"unknown accuracy evaluator {v!r}; valid choices: "
                f"{choices_text(accuracy.EVALUATORS.names())}"
            )
        return v

    @model_validator(mode="after")
    def _options(self, info: ValidationInfo) -> AccuracySpec:
        try:
            self.make()  # a bad option fails here, before anything runs
        except ValueError:
            missing = _missing_data(info)
            if not missing or not any(m.option in self.options for m in missing):
                raise
            # an evaluator that reads its data when made (a table): without the data, only
            # the names of its options can be checked
            try:
                cls = accuracy.EVALUATORS.get(self.evaluator)
                check_option_names(cls, self.options, f"accuracy evaluator {self.evaluator!r}")
                owner = f"evaluator {self.evaluator!r}"
                check_options(cls.__init__, self.options, "accuracy.options", owner=owner)
            except AccelSearchError as exc:
                raise ValueError(str(exc)) from None
        return self

    def make(self):
        try:
            cls = accuracy.EVALUATORS.get(self.evaluator)
            owner = f"evaluator {self.evaluator!r}"
            check_option_names(cls, self.options, f"accuracy {owner}")  # with a "did you mean"
            check_options(cls.__init__, self.options, "accuracy.options", owner=owner)
            return cls(**self.options)
        except AccelSearchError as exc:
            raise ValueError(str(exc)) from None
        except OPTION_ERRORS as exc:
            raise ValueError(f"bad option for evaluator {self.evaluator!r}: {exc}") from None


class RewardSpec(_Strict):
    """MnasNet reward ``acc × (lat/target_ms)^w``."""

    target_ms: float = Field(gt=0)
    w: float = -0.09


class SchedulerSpec(_Strict):
    """Ray Tune trial scheduler: ``asha`` stops weak trials after early epochs.

    ``metric`` defaults to the objective (``accuracy`` for multi-objective searches);
    ``max_t`` to the evaluator's ``epochs``.
    """

    name: str = "asha"
    metric: str | None = None
    grace_period: int = Field(1, ge=1)
    reduction_factor: float = Field(2.0, gt=1)
    max_t: int | None = Field(None, ge=1)

    @field_validator("name")
    @classmethod
    def _known(cls, v: str) -> str:
        valid = ("asha", "fifo")
        if v not in valid:
            raise ValueError(f"unknown scheduler {v!r}; valid choices: {choices_text(valid)}")
        return v

    @field_validator("metric")
    @classmethod
    def _metric(cls, v: str | None) -> str | None:
        if v is not None and v not in METRIC_MODES:
            raise ValueError(
                f"unknown scheduler metric {v!r}; valid choices: {choices_text(METRIC_MODES)}"
            )
        return v


class ScreenSpec(_Strict):
    """The screen before the GPU, for a search with a budget (``docs/search.md``).

    ``predictor``: ``auto`` (the lookup table of the recipe's GPU when one exists, else
    FLOPs calibrated on the trials measured so far), ``lut`` or ``flops``. ``margin``: a
    fixed relative error margin instead of the predictor's measured one.
    ``calibration_trials``: measured trials before the predictor's own error (or the FLOPs
    fit) is trusted. ``max_per_trial``: rejections in a row before a candidate goes to a
    trial anyway (its measurement decides). ``lut``: where the table is (``store``,
    ``device_name``, ``backend``, ``fill``).
    """

    enabled: bool = True
    predictor: str = "auto"
    margin: float | None = Field(None, ge=0, lt=1)
    calibration_trials: int = Field(4, ge=2)
    max_per_trial: int = Field(200, ge=1)
    lut: dict[str, Any] = Field(default_factory=dict)

    @field_validator("predictor")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in SCREEN_PREDICTORS:
            raise ValueError(
                f"unknown screen predictor {v!r}; valid choices: {choices_text(SCREEN_PREDICTORS)}"
            )
        return v


class SearchSpec(_Strict):
    """Search strategy and budget on Ray Tune.

    ``storage_path``: Ray Tune's experiment storage (a folder every node can write, or an
    ``s3://``/``gs://`` URI) for multi-node clusters; default ``<run folder>/ray``.
    ``resumable`` (default true): every trial's result is checkpointed and Ray Tune
    snapshots the experiment at once, so ``accelsearch resume`` never repeats a finished
    trial (costs tens of ms per trial); false leaves it to Tune's periodic snapshots.

    ``latency_budget_ms`` (and ``latency_min_ms``, ``params_budget_m``, ``gflops_budget``):
    constraints on every candidate, at the recipe's latency batch size and precision; the
    strategy takes them as constraints where it can, and the ``screen`` rejects candidates
    predicted over them before the GPU (``docs/search.md``). ``strategy: auto`` (the default)
    is ``pool-bo`` where a latency predictor, a small space and the objective allow it, else
    ``optuna-tpe``; resolved and printed when a run starts (``resolve_strategy``).
    """

    strategy: str = "auto"
    num_samples: int = Field(8, ge=1)
    max_concurrent: int = Field(1, ge=1)
    cpus_per_trial: float = Field(1.0, gt=0)
    gpus_per_trial: float = Field(0.0, ge=0)
    max_failures: int = Field(0, ge=0)
    seed: int = 0
    options: dict[str, Any] = Field(default_factory=dict)
    scheduler: SchedulerSpec | None = None
    storage_path: str | None = None
    resumable: bool = True
    latency_budget_ms: float | None = Field(None, gt=0)
    latency_min_ms: float | None = Field(None, ge=0)
    params_budget_m: float | None = Field(None, gt=0)
    gflops_budget: float | None = Field(None, gt=0)
    screen: ScreenSpec = Field(default_factory=ScreenSpec)

    @field_validator("strategy")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in search.strategies():
            raise ValueError(
                f"unknown search strategy {v!r}; valid choices: {choices_text(search.strategies())}"
            )
        return v

    @model_validator(mode="after")
    def _budget(self) -> SearchSpec:
        """The bounds agree, and the strategy can be kept under them (no space needed)."""
        try:
            budget = Budget.of_search(self)
            strategy.check_budget(self.strategy, budget, self.screen.enabled)
        except AccelSearchError as exc:
            raise ValueError(str(exc)) from None
        return self


class ScalingSpec(_Strict):
    """LACS: grid of (alpha, beta, gamma) and the family's latency targets.

    ``targets`` are multiples of the base model's measured latency; ``targets_ms`` absolute
    milliseconds (give one of the two). ``grid`` empty (the default) means the paper's
    neighbourhood (each of alpha, beta, gamma in 1.0-1.4 by 0.05), pruned by the latency
    ``predictor`` to ``max_triples``. ``compare: efficientnet`` also grows the base with
    EfficientNet's accuracy-only coefficients, phi solved on latency (``compare_phi:
    latency``, equal latency) or on the FLOPs budget the targets imply (``flops``).
    ``resolution_multiple`` empty: the space's.
    """

    enabled: bool = True
    grid: list[tuple[float, float, float]] | None = None
    targets: list[float] | None = None
    targets_ms: list[float] | None = None
    tolerance: float = Field(0.02, gt=0, lt=1)
    max_measurements: int = Field(12, ge=2)
    max_triples: int = Field(6, ge=1)
    max_multiplier: float = Field(8.0, gt=1)
    grid_target: int = 0
    predictor: str = "flops"
    compare: str | None = None
    compare_phi: str = "latency"
    resolution_multiple: int | None = Field(None, ge=1)

    @field_validator("predictor")
    @classmethod
    def _predictor(cls, v: str) -> str:
        if v not in PREDICTORS:
            raise ValueError(f"unknown predictor {v!r}; valid choices: {choices_text(PREDICTORS)}")
        return v

    @field_validator("compare")
    @classmethod
    def _compare(cls, v: str | None) -> str | None:
        if v not in (None, "efficientnet"):
            raise ValueError(f"unknown comparison {v!r}; valid choices: 'efficientnet'")
        return v

    @field_validator("compare_phi")
    @classmethod
    def _compare_phi(cls, v: str) -> str:
        if v not in ("latency", "flops"):
            raise ValueError(f"compare_phi is {v!r}; valid choices: 'flops', 'latency'")
        return v

    @model_validator(mode="after")
    def _targets(self) -> ScalingSpec:
        if not self.enabled:
            return self
        if (self.targets is None) == (self.targets_ms is None):
            raise ValueError(
                "give exactly one of scaling.targets (× base latency) or scaling.targets_ms"
            )
        if self.targets is not None and any(t <= 1 for t in self.targets):
            raise ValueError(
                f"scaling.targets are multiples of the base latency and must be > 1, got {self.targets}"
            )
        if self.targets_ms is not None and any(t <= 0 for t in self.targets_ms):
            raise ValueError(f"scaling.targets_ms must be positive, got {self.targets_ms}")
        for triple in self.grid or []:
            bad = [v for v in triple if v < 1]
            if bad:
                raise ValueError(
                    f"scaling.grid entry {tuple(triple)} has value(s) {bad} below 1; "
                    "alpha, beta and gamma must be >= 1"
                )
        return self


class TrackingSpec(_Strict):
    """MLflow: ``uri`` (default: SQLite store in the output folder), experiment name."""

    uri: str | None = None
    experiment: str | None = None


class Recipe(_Strict):
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
