"""The MLflow schema of accelsearch's runs: every tag name and the metrics each kind of run
carries, in one place (``docs/tracking.md`` lists them for users).

Runs come in five kinds, tagged ``accelsearch.kind``: a ``search`` run with a ``trial`` child
per trial (a screened candidate is a trial run too), a ``family`` run with a ``member`` child
per member, and ``baseline`` children of a family run (published models measured alike).
The application layer's writers (:mod:`accelsearch.search_tracking`,
:mod:`accelsearch.family_run`, :mod:`accelsearch.baselines_output`) take their tags and
metric names from the functions here and hand them to the :class:`~accelsearch.tracking.Tracker`;
readers (``accelsearch scale --from-run``, ``accelsearch compare``, the failover and sync
code) look runs up by the same names. Changing a name here changes it everywhere, and
breaks the stores users already have: names are kept as they are.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: the kind of a run: one of ``KINDS``
KIND_TAG = "accelsearch.kind"
KINDS = ("search", "trial", "family", "member", "baseline")
#: an experiment tag the tracker sets once, to learn whether the user may write there
WRITE_PROBE_TAG = "accelsearch.writable"
#: MLflow 3's UI opens an experiment with this tag in its "Model training" (runs) views
EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}

# -- tag names -------------------------------------------------------------------------------
SPACE = "accelsearch.space"
STRATEGY = "accelsearch.strategy"
OBJECTIVES = "accelsearch.objectives"
OUTPUT_DIR = "accelsearch.output_dir"
RESUMED = "accelsearch.resumed"
RESUMED_AT = "accelsearch.resumed_at"
TRIAL_ID = "accelsearch.trial_id"
ARCH = "accelsearch.arch"
RESTARTED = "accelsearch.restarted"
ERROR = "accelsearch.error"
FEASIBLE = "accelsearch.feasible"
SCREENED = "accelsearch.screened"
INFEASIBLE = "accelsearch.infeasible"
PROXY_SEED = "accelsearch.proxy_seed"
PROXY_UNSTABLE = "accelsearch.proxy_unstable"
PROXY_RETRIES = "accelsearch.proxy_retries"
#: a trial trained again on other seeds (``search.confirm``), and on the search run the
#: winner those runs named and whether it differs from the search's own
CONFIRMED = "accelsearch.confirmed"
CONFIRMED_WINNER = "accelsearch.confirmed_winner"
CONFIRM_CHANGED = "accelsearch.confirm_changed"
FAMILY = "accelsearch.family"
SCALING_METHOD = "accelsearch.scaling_method"
SEARCH_RUN_ID = "accelsearch.search_run_id"
BASE_ARCH = "accelsearch.base_arch"
COMPARED_WITH = "accelsearch.compared_with"
BASELINE_RUN_ID = "accelsearch.baseline_run_id"
SOLVE = "accelsearch.solve"
MODEL = "accelsearch.model"
BASELINE_LINE = "accelsearch.baseline_line"
BASELINE_FINGERPRINT = "accelsearch.baseline_fingerprint"
#: result keys written as ``accelsearch.<key>`` tags of trial, member and baseline runs
LATENCY_KEYS = ("latency_backend", "latency_device", "latency_precision", "latency_batch_size")
BASE_RUN_ID = "accelsearch.base_run_id"
#: tags that hold another run's id (a failover or sync copy rewrites them)
RUN_ID_TAGS = (SEARCH_RUN_ID, COMPARED_WITH)

# -- a copy's bookkeeping (``accelsearch sync``, a tracker's failover) -------------------------
SOURCE_TAG = "accelsearch.source_run_id"
SOURCE_PARENT_TAG = "accelsearch.source_parent_run_id"
SOURCE_URI_TAG = "accelsearch.source_uri"
COMPLETE_TAG = "accelsearch.sync_complete"
FINGERPRINT_TAG = "accelsearch.sync_fingerprint"
REMOTE_RUN_TAG = "accelsearch.remote_run_id"  # a stand-in's server run (tracking_failover)
STAND_IN_TAG = "accelsearch.stand_in"

#: what a closed orphan trial run says (a stopped driver left it running)
ORPHAN_ERROR = (
    "the driver stopped before this trial was recorded; the resumed search ran a new trial "
    "in its place"
)


# -- search and trial runs -------------------------------------------------------------------
def search_tags(space: str, strategy: str, objectives, output_dir) -> dict[str, str]:
    return {
        SPACE: space,
        STRATEGY: strategy,
        OBJECTIVES: ",".join(objectives),
        OUTPUT_DIR: str(output_dir),
    }


def resumed_tags(resumes: int, at: str) -> dict[str, str]:
    return {RESUMED: str(resumes), RESUMED_AT: at}


def search_metrics(result, spent: Mapping[str, Any] | None) -> dict[str, Any]:
    """The search run's final counts (``result``: a ``SearchResult``), with the budget's
    spending when the search had one."""
    best = [t for t in result.completed if t.feasible and "reward" in t.metrics]
    return {
        "trials_completed": len(result.completed),
        "trials_failed": len(result.failed),
        "wall_s": result.wall_s,
        **({"best_reward": result.best().metrics["reward"]} if best else {}),
        **(spending_metrics(spent) if spent else {}),
    }


def spending_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """A budget's spending report (``budget_report.spending``) as flat metrics."""
    sec = report["seconds"]
    return {
        "gpu_s_spent": sec["spent"],
        "gpu_s_on_infeasible": sec["on_infeasible"],
        "gpu_s_saved_by_screen": sec["saved_by_screen"],
        "gpu_s_saved_by_measuring_first": sec["saved_by_measuring_first"],
        "candidates_screened": report["screened"],
        "trials_infeasible": report["measured_infeasible"] + report["trained_infeasible"],
        "trials_feasible": report["feasible"],
        "latencies_from_cache": report.get("measured_from_cache", 0),
    }


def trial_tags(trial_id: str, arch) -> dict[str, str]:
    return {TRIAL_ID: trial_id, ARCH: str(arch) if arch else ""}


def restarted_tags() -> dict[str, str]:
    return {RESTARTED: "true"}


def error_tags(text: str) -> dict[str, str]:
    return {ERROR: text}


def latency_tags(result: Mapping[str, Any]) -> dict[str, Any]:
    """A trial result's latency conditions (backend, device, precision, batch size)."""
    return {f"accelsearch.{k}": result[k] for k in LATENCY_KEYS if k in result}


def budget_tags(result: Mapping[str, Any]) -> dict[str, str]:
    """Tags of a trial that ran under a budget (nothing without one)."""
    if "feasible" not in result:
        return {}
    tags = {FEASIBLE: "true" if result["feasible"] else "false", SCREENED: "false"}
    if result.get("infeasible"):
        tags[INFEASIBLE] = str(result["infeasible"])[:500]
    return tags


def proxy_tags(result: Mapping[str, Any]) -> dict[str, str]:
    """Tags of a trial whose accuracy came from a proxy training: the seed kept, whether
    that run's loss spiked, and how many runs were trained again (nothing otherwise)."""
    if "proxy_seed" not in result:
        return {}
    return {
        PROXY_SEED: str(result["proxy_seed"]),
        PROXY_UNSTABLE: "true" if result.get("proxy_unstable") else "false",
        PROXY_RETRIES: str(result.get("proxy_retries", 0)),
    }


def screened_tags(rec) -> dict[str, str]:
    """Tags of a candidate the screen rejected (``rec``: its ``TrialRecord``)."""
    return {
        **trial_tags(rec.trial_id, rec.arch),
        SCREENED: "true",
        FEASIBLE: "false",
        INFEASIBLE: str(rec.metrics.get("infeasible", ""))[:500],
    }


#: the numbers a screened candidate's run keeps
SCREENED_METRICS = ("predicted_latency_ms", "screen_margin", "params_m", "gflops")


# -- family, member and baseline runs --------------------------------------------------------
def family_tags(space: str, family, search_run_id: str | None) -> dict[str, str]:
    return {
        SPACE: space,
        FAMILY: family.name,
        SCALING_METHOD: family.method,
        SEARCH_RUN_ID: search_run_id,
        BASE_ARCH: str(family.base),
    }


def scaled_from_tags(base_run_id: str | None) -> dict[str, str]:
    """Tags of a family grown by ``accelsearch scale --from-run``: the base's run."""
    return {BASE_RUN_ID: base_run_id} if base_run_id else {}


def compared_with_tags(family_run_id: str) -> dict[str, str]:
    """Tags of a baseline family's run: the family run it is compared with."""
    return {COMPARED_WITH: family_run_id}


def baseline_family_tags(baseline_run_id: str) -> dict[str, str]:
    """Tags of a family run: its baseline family's run."""
    return {BASELINE_RUN_ID: baseline_run_id}


def family_metrics(family) -> dict[str, Any]:
    settings = family.settings
    return {
        "members": len(family.members),
        "wall_s": family.wall_s,
        "total_measurements": settings.get("total_measurements", 0),
        "accuracy_evaluations": settings.get("accuracy_evaluations", 0),
    }


def member_tags(family, member) -> dict[str, Any]:
    lat = member.latency
    return {
        FAMILY: family.name,
        SCALING_METHOD: family.method,
        ARCH: str(member.arch),
        SOLVE: member.solve,
        "accelsearch.latency_backend": lat.get("backend", ""),
        "accelsearch.latency_device": lat.get("device_name", ""),
        "accelsearch.latency_precision": lat.get("precision", ""),
        "accelsearch.latency_batch_size": lat.get("batch_size", ""),
    }


def member_metrics(m) -> dict[str, Any]:
    return {
        "accuracy": m.accuracy,
        "latency_ms": m.latency_ms,
        "reward": m.reward,
        "params_m": m.params_m,
        "gflops": m.gflops,
        "gmacs": m.gmacs,
        "intensity": m.intensity,
        "utilisation": m.utilisation,
        "latency_error": m.latency_error,
        "n_measurements": m.n_measurements,
    }


def baseline_tags(family_name: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    """Tags of a baseline model's run (``entry``: its record in ``baselines.json``)."""
    lat = entry.get("latency", {})
    return {
        FAMILY: family_name,
        BASELINE_LINE: entry["line"],
        MODEL: entry["model"],
        BASELINE_FINGERPRINT: entry["fingerprint"],
        ARCH: entry["arch"],
        # as the members have it: the backend without its mode ("torch", not "torch/eager")
        "accelsearch.latency_backend": (lat.get("backend") or "").split("/")[0],
        "accelsearch.latency_device": lat.get("device", ""),
        "accelsearch.latency_precision": lat.get("precision", ""),
        "accelsearch.latency_batch_size": lat.get("batch_size", ""),
        **({ERROR: entry.get("error", "")[:4000]} if entry.get("status") != "ok" else {}),
    }


def baseline_filter(parent: str, model: str, fingerprint: str) -> str:
    """MLflow search filter for a baseline model's run under the family run ``parent``."""
    return (
        f"tags.`{KIND_TAG}` = 'baseline' and tags.`mlflow.parentRunId` = '{parent}' "
        f"and tags.`{MODEL}` = '{model}' "
        f"and tags.`{BASELINE_FINGERPRINT}` = '{fingerprint}'"
    )


def family_filter(family_name: str) -> str:
    """MLflow search filter for the family runs of the family ``family_name``."""
    return f"tags.`{KIND_TAG}` = 'family' and tags.`{FAMILY}` = '{family_name}'"
