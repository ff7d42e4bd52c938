"""Saved views of the MLflow UI for a workspace's families (``accelsearch ui``).

MLflow 3's UI keeps a saved view of the runs page as an experiment tag
``mlflow.sharedViewState.<key>`` (a JSON envelope: ``name``, ``createdAt``, ``updatedAt``
and ``state``, the page's search facets and UI state as a JSON string) and opens it from
the URL parameter ``viewStateShareKey=<key>``; the view then also shows in the page's
"Views" menu. For the newest family of a workspace this writes the members view: the
family's member runs (filter), ordered by latency (not nested under their family, which the
UI does only when runs are ordered by start time), the columns accuracy, latency_ms, reward
and target_ms, and a scatter chart of accuracy against latency_ms; and one view of every
family's members, to compare families. Keys are fixed per family, so running ``ui`` again
updates the views instead of adding copies.

Experiments holding accelsearch runs get the tag ``mlflow.experimentKind =
custom_model_development`` when they lack it (stores written before it was set at
creation), so that MLflow 3 opens them in its model-training views, not its GenAI ones.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass

from accelsearch.mlflow_schema import COMPARED_WITH, EXPERIMENT_TAGS, KIND_TAG

VIEW_TAG_PREFIX = "mlflow.sharedViewState."  # MLflow's EXPERIMENT_PAGE_VIEW_STATE_SHARE_TAG_PREFIX
VIEW_URL_PARAM = "viewStateShareKey"
#: member columns the view shows (MLflow's canonical column keys)
MEMBER_COLUMNS = (
    "metrics.`accuracy`",
    "metrics.`latency_ms`",
    "metrics.`reward`",
    "params.`target_ms`",
)
MEMBER_FILTER = f"tags.`{KIND_TAG}` = 'member'"
ALL_MEMBERS_KEY = "accelsearch-all-members"
_SECTION = "accelsearch-family"
_CHART = "accelsearch-accuracy-vs-latency"


@dataclass(frozen=True)
class FamilyView:
    """Where the members view of one family is, and what it shows."""

    experiment_id: str
    experiment: str
    family_run_id: str
    family_run_name: str
    key: str  # the view's share key (its experiment tag is VIEW_TAG_PREFIX + key)
    all_key: str  # the view of every family's members in the experiment

    def url(self, base: str, chart: bool = False, key: str | None = None) -> str:
        """The runs page with the view applied (``chart``: its chart tab)."""
        query = {VIEW_URL_PARAM: key or self.key, "workflowType": "machine_learning"}
        if chart:
            query["compareRunsMode"] = "CHART"
        return (
            f"{base.rstrip('/')}/#/experiments/{self.experiment_id}/runs?"
            f"{urllib.parse.urlencode(query)}"
        )


def view_state(search_filter: str) -> dict:
    """The runs page's state: filter, order, columns and the accuracy-vs-latency chart."""
    return {
        "searchFilter": search_filter,
        "orderByKey": "metrics.`latency_ms`",  # any order but start time: members not nested
        "orderByAsc": True,
        "selectedColumns": list(MEMBER_COLUMNS),
        "runsHiddenMode": "SHOW_ALL",
        "compareRunSections": [
            {"uuid": _SECTION, "name": "accelsearch", "display": True, "isReordered": False}
        ],
        "compareRunCharts": [
            {
                "uuid": _CHART,
                "type": "SCATTER",
                "displayName": "accuracy vs latency_ms",
                "xaxis": {"key": "latency_ms", "type": "METRIC"},
                "yaxis": {"key": "accuracy", "type": "METRIC"},
                "runsCountToCompare": 100,
                "metricSectionId": _SECTION,
                "deleted": False,
                "isGenerated": False,
            }
        ],
        "isAccordionReordered": False,
        "hideEmptyCharts": True,
        "useGroupedValuesInCharts": False,
        "groupBy": None,
    }


def view_tag_value(name: str, state: dict, now_ms: int | None = None) -> str:
    """The experiment tag's value: MLflow's saved-view envelope around ``state``."""
    now = int(time.time() * 1000) if now_ms is None else now_ms
    envelope = {"name": name, "createdAt": now, "updatedAt": now, "state": json.dumps(state)}
    return json.dumps(envelope)


def mark_model_training(client) -> list[str]:
    """Tag the experiments that hold accelsearch runs as model-training ones (if untagged)."""
    marked = []
    for exp in client.search_experiments():
        if all(exp.tags.get(k) for k in EXPERIMENT_TAGS):
            continue
        has_runs = client.search_runs(
            [exp.experiment_id], f"tags.`{KIND_TAG}` LIKE '%'", max_results=1
        )
        if has_runs:
            for key, value in EXPERIMENT_TAGS.items():
                client.set_experiment_tag(exp.experiment_id, key, value)
            marked.append(exp.name)
    return marked


def newest_family(client):
    """(experiment, family run) of the newest family in the store, or None; a baseline
    family grown for comparison (tag ``accelsearch.compared_with``) is not one."""
    best = None
    for exp in client.search_experiments():
        runs = client.search_runs(
            [exp.experiment_id],
            f"tags.`{KIND_TAG}` = 'family'",
            order_by=["attributes.start_time DESC"],
            max_results=50,
        )
        runs = [r for r in runs if COMPARED_WITH not in r.data.tags]
        if runs and (best is None or runs[0].info.start_time > best[1].info.start_time):
            best = (exp, runs[0])
    return best


def install_views(tracking_uri: str) -> FamilyView | None:
    """Write the members views of the newest family (None: the store has no family)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    mark_model_training(client)
    found = newest_family(client)
    if found is None:
        return None
    exp, family = found
    fam_id = family.info.run_id
    key = f"accelsearch-family-{fam_id[:12]}"
    name = family.info.run_name or fam_id
    one = f"{MEMBER_FILTER} AND tags.`mlflow.parentRunId` = '{fam_id}'"
    for tag_key, title, search in (
        (key, f"{name}: members", one),
        (ALL_MEMBERS_KEY, "all families: members", MEMBER_FILTER),
    ):
        value = view_tag_value(f"accelsearch {title}", view_state(search))
        client.set_experiment_tag(exp.experiment_id, VIEW_TAG_PREFIX + tag_key, value)
    return FamilyView(exp.experiment_id, exp.name, fam_id, name, key, ALL_MEMBERS_KEY)
