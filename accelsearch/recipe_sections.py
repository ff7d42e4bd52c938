"""The sections of a recipe (``space``, ``accuracy``, ``reward``, ``search``, ``scaling``,
``tracking``): pydantic models that forbid unknown fields and check names against the
registries, so that a bad section fails when the recipe is loaded, before anything runs.

The whole recipe (:class:`~accelsearch.recipe.Recipe`), which puts them together and checks
them against each other, and its loading live in :mod:`accelsearch.recipe`.
"""

from __future__ import annotations

from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from accelsearch import search, spaces
from accelsearch.core.errors import AccelSearchError, choices_text
from accelsearch.core.kinds import check_options
from accelsearch.core.options import check_option_names
from accelsearch.objectives import accuracy
from accelsearch.recipe_data import MissingData
from accelsearch.recipe_paths import check_input_paths
from accelsearch.scaling.predict import PREDICTORS
from accelsearch.search import strategy
from accelsearch.search.budget import Budget
from accelsearch.search.screen import SCREEN_PREDICTORS
from accelsearch.search.strategy import METRIC_MODES

#: exceptions a space or evaluator constructor raises for an option of the wrong kind
#: (a list where a number belongs, infinity for a size, ...): reported with the section
OPTION_ERRORS = (TypeError, ValueError, OverflowError)


class StrictSection(BaseModel):
    """A recipe section: unknown fields, NaN and infinities are errors; assignments are checked."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class SpaceSpec(StrictSection):
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


def _missing_data(info: ValidationInfo) -> list[MissingData] | None:
    """The list missing input data goes to when a recipe is validated without its data."""
    return (info.context or {}).get("missing_data") if info is not None else None


class AccuracySpec(StrictSection):
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


class RewardSpec(StrictSection):
    """MnasNet reward ``acc × (lat/target_ms)^w``."""

    target_ms: float = Field(gt=0)
    w: float = -0.09


class SchedulerSpec(StrictSection):
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


class ScreenSpec(StrictSection):
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


class ConfirmSpec(StrictSection):
    """The search's best candidates trained again before one is named the winner
    (:mod:`accelsearch.search.confirm`).

    ``top``: how many of the best feasible trials (0, the default: none); ``seeds``: how
    many more runs each, on seeds of their own; the winner is the best mean of those runs.
    ``max_seeds`` (at least ``seeds``; default: no race): while the winner's lead over the
    runner-up is not told apart from the noise, the two leaders get one more run each, up to
    ``max_seeds`` runs.
    ``by``: rank by ``accuracy`` or ``reward`` (default: the search's first objective when
    it is one of them, else ``reward``). Needs an accuracy evaluator that takes a ``seed``
    option (``train``, ``proxy``). The runs are trained one after another in the driver's
    process, after the search and before LACS.
    """

    top: int = Field(0, ge=0)
    seeds: int = Field(2, ge=1)
    max_seeds: int | None = Field(None, ge=1)
    by: str | None = None

    @field_validator("by")
    @classmethod
    def _known(cls, v: str | None) -> str | None:
        if v is not None and v not in ("accuracy", "reward"):
            raise ValueError(f"search.confirm.by {v!r}: rank by 'accuracy' or 'reward'")
        return v

    @model_validator(mode="after")
    def _race(self) -> ConfirmSpec:
        if self.max_seeds is not None and self.max_seeds < self.seeds:
            raise ValueError(
                f"search.confirm.max_seeds {self.max_seeds} is below seeds {self.seeds}: give "
                "at least as many (the leading two race up to max_seeds runs), or drop it"
            )
        return self


class SearchSpec(StrictSection):
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
    ``confirm``: train the best trials again on other seeds before naming the winner
    (:class:`ConfirmSpec`).
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
    confirm: ConfirmSpec = Field(default_factory=ConfirmSpec)

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


class ScalingSpec(StrictSection):
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


class TrackingSpec(StrictSection):
    """MLflow: ``uri`` (default: SQLite store in the output folder), experiment name."""

    uri: str | None = None
    experiment: str | None = None
