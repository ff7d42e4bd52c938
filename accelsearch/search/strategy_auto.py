"""``search.strategy: auto`` (the default): ``pool-bo`` where it was measured to win, else
``optuna-tpe``.

``pool-bo`` needs every candidate's latency before any trial, and was measured (NAS-Bench-201,
``benchmarks/results/search/hv_poolbo_nb201_h200*.md`` and ``budget_search_nb201_poolbo*.md``)
only where all of these hold, so ``auto`` picks it only then:

1. the space enumerates to a pool: at most :data:`POOL_LIMIT` assignments (pool-bo's
   ``candidates``; a larger space would be searched through a Sobol sample of it);
2. the objective is the accuracy-latency front ``[accuracy, latency_ms]``, or ``[accuracy]``
   under a latency budget (``search.latency_budget_ms`` / ``latency_min_ms``);
3. the user names a latency predictor in milliseconds: ``search.options.predictor`` (``lut``
   with its ``predictor_options``, or from Python a callable ``Arch -> ms`` such as a
   measured table); not ``flops``, whose unit is not ms. ``auto`` does not go looking for a
   lookup table itself: the per-layer H200 table predicts every NAS-Bench-201 cell at batch
   1 within 0.719-0.721 ms (28 distinct values over 15,625 cells) and took 764 s to predict
   the pool on this project's loaded 2-core CPU, so a table found by device name is no
   evidence that pool-bo would see the latency it needs;
4. at most :data:`MAX_TRIALS` trials: pool-bo refits a Gaussian process at every ask (on
   NAS-Bench-201, one ask took 1.6 s with 100 trials, 13 s with 300 and 63 s with 1,000 on
   that CPU: past 300 an ask costs more than a proxy training).

Anything else gets ``optuna-tpe``. ``auto`` takes no strategy options but the predictor's
(``predictor``, ``predictor_options``): to tune a strategy, name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from accelsearch.core.errors import ConfigError
from accelsearch.search import strategy
from accelsearch.search.budget import Budget
from accelsearch.search.encoding import Encoding

AUTO = "auto"
POOL, FALLBACK = "pool-bo", "optuna-tpe"
#: pool-bo's default ``candidates``: a space this small is searched whole
POOL_LIMIT = 16384
#: trials beyond which pool-bo's per-ask Gaussian process is not chosen by itself
MAX_TRIALS = 300
#: the options ``auto`` takes (besides ``objectives``, which the driver reads)
PREDICTOR_KEYS = ("predictor", "predictor_options")


@dataclass(frozen=True)
class Choice:
    """The strategy ``auto`` resolved to, its options and why (printed for the user)."""

    name: str
    reason: str
    options: dict[str, Any] = field(default_factory=dict)


def check_options(options: dict[str, Any]) -> None:
    bad = sorted(k for k in options if k not in PREDICTOR_KEYS)
    if bad:
        raise ConfigError(
            f"search.options has {bad}, which strategy 'auto' does not take: it takes only "
            f"objectives, {' and '.join(PREDICTOR_KEYS)}; name the strategy "
            f"(search.strategy: {POOL} or {FALLBACK}) to give it options"
        )


def pool_case(space, objective, budget: Budget | None, trials: int | None = None) -> str | None:
    """Why ``pool-bo`` does *not* fit (rules 1, 2 and 4 of the module docstring), or
    ``None`` when it does."""
    size = Encoding(space).size()
    if size > POOL_LIMIT:
        return (
            f"the space has {size:.3g} assignments, more than pool-bo searches whole ({POOL_LIMIT})"
        )
    metrics = tuple(objective.metrics)
    front = sorted(metrics) == ["accuracy", "latency_ms"]
    budgeted = metrics == ("accuracy",) and budget is not None and budget.on_latency
    if not (front or budgeted):
        return (
            f"the objectives {list(metrics)} are neither [accuracy, latency_ms] nor [accuracy] "
            "under a latency budget"
        )
    if trials is not None and trials > MAX_TRIALS:
        return f"{trials} trials are more than pool-bo is chosen for ({MAX_TRIALS})"
    return None


def choose(
    space,
    objective,
    options: dict[str, Any],
    budget: Budget | None = None,
    trials: int | None = None,
) -> Choice:
    """The strategy for ``auto``; ``options``: the strategy options (no ``objectives``),
    ``trials``: how many the search runs (``search.num_samples``), when known."""
    check_options(options)
    why_not = pool_case(space, objective, budget, trials)
    if why_not is not None:
        return Choice(FALLBACK, why_not)
    given = options.get("predictor")
    if given is None:
        return Choice(FALLBACK, "no latency predictor given (search.options.predictor)")
    if given == "flops":
        return Choice(FALLBACK, "search.options.predictor is flops, not a latency in ms")
    what = "the accuracy-latency front" if objective.multi else "accuracy under a latency budget"
    reason = f"{what}, a space small enough to search whole, and a latency predictor in ms"
    return Choice(POOL, reason, dict(options))


def _validate(space, objective, seed, options, budget=None):
    choice = choose(space, objective, options, budget)
    return strategy.validate(choice.name, space, objective, seed, choice.options, budget)


@strategy.register_strategy(
    AUTO,
    multi=True,
    single=True,
    description=f"{POOL} where a latency predictor and a small space allow it, else {FALLBACK}",
    validator=_validate,
    constraints="native",
)
def _make_auto(space, objective, seed, options, budget=None):
    choice = choose(space, objective, options, budget)
    return strategy.make(choice.name, space, objective, seed, choice.options, budget)
