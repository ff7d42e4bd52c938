"""Search strategy ``utilization-filter``: screen many candidates cheaply, train few.

Kosaian & Phanishayee's approximate filtering as a Ray Tune searcher
(:class:`UtilizationFilterSearcher`): on its first ``suggest`` it samples
``num_candidates`` distinct architectures of the space, builds each, counts its FLOPs and
measures its throughput with a latency backend (in the driver, one candidate at a time),
keeps the Pareto-optimal ones for (throughput, utilisation) or (throughput, FLOPs) with
:class:`accelsearch.objectives.filtering.UtilizationFilter`, and hands only those to the
trials, which measure latency and evaluate accuracy as every strategy's trials do. The
search ends when the kept candidates are done (or ``search.num_samples`` is reached).

Recipe options (``search.options``)::

    num_candidates: 200        # architectures screened
    by: utilization            # or flops
    fronts: 1                  # non-dominated fronts kept
    max_keep: null             # cap on the number kept
    num_classes: 1000          # head the candidates are built with while screening
    peak_tflops: null          # only scales the reported utilisation
    latency: {backend: torch, device: auto, batch_size: 32, precision: null,
              protocol: {warmup: 3, min_reps: 10, max_reps: 50, max_seconds: 1.0}}
"""

from __future__ import annotations

import pickle
import time
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from accelsearch.core.accounting import model_cost
from accelsearch.core.errors import AccelSearchError, ConfigError, format_validation_error
from accelsearch.core.kinds import check_options
from accelsearch.objectives import latency
from accelsearch.objectives.filtering import FILTER_BY, CheapMetrics, UtilizationFilter
from accelsearch.objectives.latency_spec import LatencySpec
from accelsearch.search.strategy import Objective, register_strategy

_DEFAULT_LATENCY = {
    "backend": "torch",
    "device": "auto",
    "batch_size": 32,
    "precision": None,
    "protocol": {"warmup": 3, "min_reps": 10, "max_reps": 50, "max_seconds": 1.0},
}


class _Screening:
    """The searcher's logic; :class:`UtilizationFilterSearcher` adds Ray Tune's base class
    (made on first use, so that importing accelsearch does not import Ray)."""

    def __init__(
        self,
        space,
        *,
        seed: int = 0,
        num_candidates: int = 200,
        by: str = "utilization",
        fronts: int = 1,
        max_keep: int | None = None,
        num_classes: int = 1000,
        peak_tflops: float | None = None,
        latency: dict[str, Any] | None = None,
        metric: str | None = None,
        mode: str | None = None,
        printer=print,
    ) -> None:
        super().__init__(metric=metric, mode=mode)
        if num_candidates < 1:
            raise ConfigError(
                f"utilization-filter num_candidates must be >= 1, got {num_candidates}"
            )
        if by not in FILTER_BY:
            raise ConfigError(
                f"utilization-filter by {by!r}; valid choices: {', '.join(FILTER_BY)}"
            )
        unknown = sorted(set(latency or {}) - set(_DEFAULT_LATENCY))
        if unknown:
            raise ConfigError(
                f"utilization-filter latency option(s) {unknown}; valid: {sorted(_DEFAULT_LATENCY)}"
            )
        if peak_tflops is not None and peak_tflops <= 0:
            raise ConfigError(f"utilization-filter peak_tflops must be > 0, got {peak_tflops}")
        self.space = space
        self.seed = seed
        self.num_candidates = num_candidates
        self.filter = UtilizationFilter(by=by, fronts=fronts, max_keep=max_keep)
        self.num_classes = num_classes
        self.peak_tflops = peak_tflops
        self.latency = {**_DEFAULT_LATENCY, **(latency or {})}
        self.print = printer
        self.screened: list[dict[str, Any]] = []  # one record per screened candidate
        self.queue: list[dict[str, Any]] | None = None  # configs still to suggest
        self.suggested: dict[str, dict[str, Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # Tune pickles its searcher; the printer (often the builtin print, which Ray's tqdm
        # support replaces in builtins) does not travel - a copy prints with print
        state = self.__dict__.copy()
        state["print"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.print = print

    # -- Ray Tune ------------------------------------------------------------------------
    def set_search_properties(self, metric, mode, config, **spec) -> bool:
        if metric is not None:
            self._metric = metric
        if mode is not None:
            self._mode = mode
        return True

    def suggest(self, trial_id: str):
        if self.queue is None:
            self.queue = self._screen()
        if not self.queue:
            from ray.tune.search import Searcher

            return Searcher.FINISHED
        config = self.queue.pop(0)
        self.suggested[trial_id] = config
        return dict(config)

    def on_trial_complete(self, trial_id: str, result=None, error: bool = False) -> None:
        pass  # the kept list is fixed once screened

    def save(self, checkpoint_path: str) -> None:
        state = {
            "screened": self.screened,
            "queue": self.queue,
            "suggested": self.suggested,
        }
        Path(checkpoint_path).write_bytes(pickle.dumps(state))

    def restore(self, checkpoint_path: str) -> None:
        state = pickle.loads(Path(checkpoint_path).read_bytes())
        self.screened = state["screened"]
        self.queue = state["queue"]
        self.suggested = state["suggested"]

    # -- screening -----------------------------------------------------------------------
    def sample_configs(self) -> list[dict[str, Any]]:
        """``num_candidates`` configs of distinct architectures (fewer if the space is
        smaller), seeded."""
        import numpy as np

        rng = np.random.default_rng(self.seed)
        seen: set[str] = set()
        configs: list[dict[str, Any]] = []
        tries = 0
        while len(configs) < self.num_candidates and tries < 20 * self.num_candidates:
            tries += 1
            params = self.space.sample(rng)
            key = self.space.decode(params).hash()
            if key not in seen:
                seen.add(key)
                configs.append(params)
        return configs

    def cheap_metrics(self, backend, config: dict[str, Any]) -> CheapMetrics:
        """FLOPs (``torch.utils.flop_counter``) and measured images/s of one config."""

        arch = self.space.decode(config)
        model = self.space.build(arch, num_classes=self.num_classes)
        cost = model_cost(model, arch.resolution, arch.in_chans)
        bs = int(self.latency["batch_size"])
        lat = backend.measure(model, bs, arch.resolution)
        return CheapMetrics(
            throughput=bs * 1000.0 / lat.median_ms,
            flops=cost.gflops * 1e9,
            latency_ms=lat.median_ms,
            batch_size=bs,
        )

    def _screen(self) -> list[dict[str, Any]]:
        t0 = time.perf_counter()
        configs = self.sample_configs()
        spec = {k: v for k, v in self.latency.items() if k != "batch_size"}
        measured: list[tuple[dict[str, Any], CheapMetrics]] = []
        with latency.get_backend(**spec) as backend:
            for i, config in enumerate(configs):
                try:
                    cm = self.cheap_metrics(backend, config)
                except AccelSearchError as exc:  # a candidate that cannot be built/measured
                    self.screened.append({"params": config, "error": str(exc)})
                    continue
                measured.append((config, cm))
                rec = {
                    "params": config,
                    "throughput": cm.throughput,
                    "gflops": cm.flops / 1e9,
                    "latency_ms": cm.latency_ms,
                    "achieved_tflops": cm.achieved_flops / 1e12,
                }
                if self.peak_tflops:
                    rec["utilization"] = cm.achieved_flops / (self.peak_tflops * 1e12)
                self.screened.append(rec)
                if (i + 1) % 25 == 0:
                    self.print(f"[utilization-filter] screened {i + 1}/{len(configs)}")
        kept = self.filter.select([cm for _, cm in measured])
        for i in kept:
            key = _config_key(measured[i][0])
            for rec in self.screened:
                if "error" not in rec and _config_key(rec["params"]) == key:
                    rec["kept"] = True
        self.print(
            f"[utilization-filter] {self.filter.describe()}: screened {len(measured)} "
            f"candidates in {time.perf_counter() - t0:.0f} s, evaluating {len(kept)}"
        )
        return [measured[i][0] for i in kept]


def _searcher_class() -> type:
    from ray.tune.search import Searcher

    cls = globals().get("_SEARCHER_CLASS")
    if cls is None:
        cls = type(
            "UtilizationFilterSearcher",
            (_Screening, Searcher),
            {
                "__doc__": "Suggests only the candidates that survive the utilisation filter.",
                "__module__": __name__,
            },
        )
        globals()["_SEARCHER_CLASS"] = cls
    return cls


def __getattr__(name: str):
    if name == "UtilizationFilterSearcher":
        return _searcher_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _config_key(config: dict[str, Any]) -> str:
    return repr(sorted(config.items(), key=lambda kv: kv[0]))


class _WithoutTune:
    """Stands in for Ray Tune's ``Searcher`` base when the options are only checked."""

    def __init__(self, metric=None, mode=None) -> None:
        pass


class _CheckedScreening(_Screening, _WithoutTune):
    pass


def _validate(space, objective: Objective, seed: int, options: dict[str, Any]) -> _Screening:
    """Every option checked without Ray (``accelsearch validate``): names, kinds, and the
    ``latency`` mapping by the rules of a recipe's ``latency`` section."""
    internal = ("space", "seed", "printer", "metric", "mode")  # the driver gives these
    owner = "strategy 'utilization-filter'"
    check_options(_Screening.__init__, options, "search.options", internal, owner)
    try:
        LatencySpec(**(options.get("latency") or {}))
    except ValidationError as exc:
        raise ConfigError(
            format_validation_error(exc, "search.options.latency", LatencySpec)
        ) from None
    return _CheckedScreening(space, seed=seed, **options)


@register_strategy(
    "utilization-filter",
    multi=True,
    description="screen many candidates by throughput and GPU utilisation (or FLOPs), "
    "evaluate accuracy on the Pareto-optimal ones only (Kosaian & Phanishayee)",
    validator=_validate,
)
def _utilization_filter(space, objective: Objective, seed: int, options: dict[str, Any]):
    try:
        searcher = _searcher_class()(space, seed=seed, **options)
    except TypeError as exc:
        raise ConfigError(f"bad option for search strategy 'utilization-filter': {exc}") from None
    return searcher, {}
