#!/usr/bin/env python3
"""Open accelsearch's runs in the MLflow UI in headless Chromium and take screenshots.

What a person would look at after ``accelsearch run``: a family run (its parameters, its
metrics, the accuracy-latency plot among its artifacts), the runs table filtered on
``tags.accelsearch.kind = 'member'`` (members grouped under their family), and MLflow's
comparison page for the members of two families. Every page is checked for the texts it
must show (run names, metric names) and the result is written to ``--out`` as JSON with one
PNG per page.

    python benchmarks/ui_screenshots.py --workspace runs/quickstart --out out/ui
    python benchmarks/ui_screenshots.py --tracking-uri http://127.0.0.1:5000 --out out/ui

With ``--workspace`` the script starts ``accelsearch ui`` on the workspace's store (on a
free port), opens the members view and chart URLs it prints as they are printed, and
stops it at the end. It drives Debian's Chromium (``--chromium``, default
``chromium`` on PATH) through Playwright and never downloads a browser.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# MLflow 3's UI keeps these in localStorage (``<key>_v<version>``, JSON values): open the
# "Model training" views, keep the assistant panel and first-visit hints closed.
UI_STORAGE = {
    "mlflow.workflowType_v1": '"machine_learning"',
    "mlflow.assistant.panelOpen_v1": "false",
    "mlflow.assistant.fab.autoOpenedOnFirstLoad_v1": "true",
    "mlflow.detectIssues.guidanceShown_v1": "true",
    "mlflow.flagForReview.guidanceShown_v1": "true",
}
MEMBER_FILTER = "tags.`accelsearch.kind` = 'member'"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--workspace", help="an accelsearch workspace (holds mlflow.db)")
    src.add_argument("--tracking-uri", help="a running MLflow server, http://HOST:PORT")
    p.add_argument("--out", required=True, help="folder for the PNGs and ui_screenshots.json")
    p.add_argument("--experiment", help="experiment to show (default: the one with most families)")
    p.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    p.add_argument("--width", type=int, default=1600)
    p.add_argument("--height", type=int, default=1000)
    p.add_argument("--timeout-s", type=float, default=120.0, help="per page and for the server")
    return p.parse_args(argv)


# -- MLflow's REST API -------------------------------------------------------------------------
def api(url: str, path: str, body: dict | None = None) -> dict:
    req = urllib.request.Request(
        url.rstrip("/") + path,
        data=json.dumps(body).encode() if body is not None else None,
        method="POST" if body is not None else "GET",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as resp:
        return json.loads(resp.read() or b"{}")


def runs_of(url: str, experiment_ids: list[str], kind: str) -> list[dict]:
    body = {
        "experiment_ids": experiment_ids,
        "filter": f"tags.`accelsearch.kind` = '{kind}'",
        "max_results": 1000,
        "order_by": ["attributes.start_time DESC"],
    }
    return api(url, "/api/2.0/mlflow/runs/search", body).get("runs", [])


def tag(run: dict, key: str) -> str | None:
    return next((t["value"] for t in run["data"].get("tags", []) if t["key"] == key), None)


def choose(url: str, experiment: str | None) -> dict:
    """The experiment, its two newest families and their members."""
    exps = api(url, "/api/2.0/mlflow/experiments/search", {"max_results": 1000}).get(
        "experiments", []
    )
    if experiment:
        exps = [e for e in exps if e["name"] == experiment]
        if not exps:
            raise SystemExit(f"experiment {experiment!r} not found at {url}")
    best = None
    for e in exps:
        fams = runs_of(url, [e["experiment_id"]], "family")
        if fams and (best is None or len(fams) > len(best[1])):
            best = (e, fams)
    if best is None:
        raise SystemExit(f"no family runs (tags.accelsearch.kind = 'family') at {url}")
    exp, families = best
    members = runs_of(url, [exp["experiment_id"]], "member")
    chosen = families[:2]
    by_family = {
        f["info"]["run_id"]: [
            m for m in members if tag(m, "mlflow.parentRunId") == f["info"]["run_id"]
        ]
        for f in chosen
    }
    return {"experiment": exp, "families": chosen, "members": by_family}


# -- the UI server -------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_ui(workspace: str, timeout_s: float, log: Path) -> tuple[subprocess.Popen, str, dict]:
    """``accelsearch ui`` on a free port; its URL and the view URLs it printed (``members``,
    ``chart``) once it says it is ready."""
    port = free_port()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "accelsearch", "ui", "--output", workspace, "--port", str(port)]
            + ["--no-browser"],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"`accelsearch ui --output {workspace}` exited ({proc.returncode}):\n"
                + log.read_text()
            )
        printed = log.read_text()
        if "[ui]   accuracy vs latency_ms chart:" in printed:
            return proc, url, printed_views(printed)
        time.sleep(1)
    stop(proc)
    raise SystemExit(f"the MLflow UI did not answer in {timeout_s} s:\n{log.read_text()}")


def printed_views(text: str) -> dict:
    """The view URLs ``accelsearch ui`` printed: the family's members and their chart."""
    views = {}
    for line in text.splitlines():
        if "its members (" in line:
            views["members"] = line.rsplit(": ", 1)[1].strip()
            views["family"] = line.split("[ui] family ", 1)[1].split(" - ", 1)[0]
        elif "accuracy vs latency_ms chart:" in line:
            views["chart"] = line.rsplit(": ", 1)[1].strip()
    return views


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the session start_ui made for it
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


# -- the pages -----------------------------------------------------------------------------------
def view_pages(views: dict, chosen: dict) -> list[dict]:
    """The pages ``accelsearch ui`` printed, opened as printed: the newest family's members
    with their columns, and the accuracy-vs-latency chart."""
    if not views:
        return []
    fam = next(f for f in chosen["families"] if f["info"]["run_name"] == views["family"])
    names = [m["info"]["run_name"] for m in chosen["members"][fam["info"]["run_id"]]]
    others = [
        m["info"]["run_name"]
        for run_id, ms in chosen["members"].items()
        if run_id != fam["info"]["run_id"]
        for m in ms
    ]
    return [
        {
            "name": "members_view",
            "what": "the URL accelsearch ui printed: the family's members, accuracy, "
            "latency_ms, reward and target_ms columns",
            "url": views["members"],
            "expect": [*names, "accuracy", "latency_ms", "reward", "target_ms"],
            "absent": others,  # another family's members are not in this family's view
        },
        {
            "name": "members_view_chart",
            "what": "the chart URL accelsearch ui printed: accuracy against latency_ms",
            "url": views["chart"],
            "expect": names,
            "plot_axes": ("latency_ms", "accuracy"),
        },
    ]


def pages(url: str, chosen: dict) -> list[dict]:
    exp_id = chosen["experiment"]["experiment_id"]
    fam = chosen["families"][0]
    fam_id = fam["info"]["run_id"]
    members = [m for ms in chosen["members"].values() for m in ms]
    ml = "workflowType=machine_learning"
    query = urllib.parse.urlencode(
        {"searchFilter": MEMBER_FILTER, "workflowType": "machine_learning"}
    )
    compare = urllib.parse.urlencode(
        {
            "runs": json.dumps([m["info"]["run_id"] for m in members]),
            "experiments": json.dumps([exp_id]),
        }
    )
    family_names = [f["info"]["run_name"] for f in chosen["families"]]
    return [
        {
            "name": "family_run",
            "what": "the family run: LACS parameters (alpha, beta, gamma) and metrics",
            "url": f"{url}/#/experiments/{exp_id}/runs/{fam_id}?{ml}",
            "expect": [fam["info"]["run_name"], "alpha", "members"],
        },
        {
            "name": "family_plot",
            "what": "the family's accuracy-latency plot among its artifacts",
            "url": f"{url}/#/experiments/{exp_id}/runs/{fam_id}/artifacts/family.png?{ml}",
            "expect": ["family.png"],
            "image": True,
        },
        {
            "name": "members_table",
            "what": f"runs table filtered on {MEMBER_FILTER}, members under their family",
            "url": f"{url}/#/experiments/{exp_id}/runs?{query}",
            "expect": family_names,
            "expand": True,
        },
        {
            "name": "members_charts",
            "what": "the same runs as charts (one chart per metric, runs coloured)",
            "url": f"{url}/#/experiments/{exp_id}/runs?{query}&compareRunsMode=CHART",
            "expect": ["accuracy", "latency_ms"],
            "scroll": True,
        },
        {
            "name": "compare_members",
            "what": "MLflow's comparison of the members of two families: accuracy vs latency_ms",
            "url": f"{url}/#/compare-runs?{compare}",
            "expect": [m["info"]["run_name"] for m in members] + ["Scatter Plot"],
            "scatter": ("latency_ms", "accuracy"),
        },
    ]


def shoot(
    args: argparse.Namespace, url: str, chosen: dict, out: Path, views: dict | None = None
) -> list[dict]:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    results = []
    profile = tempfile.mkdtemp(prefix="accelsearch-chromium-")
    try:
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                profile,
                executable_path=args.chromium,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": args.width, "height": args.height},
            )
            storage = json.dumps(UI_STORAGE)
            ctx.add_init_script(
                f"for (const [k, v] of Object.entries({storage})) "
                "{ if (localStorage.getItem(k) === null) localStorage.setItem(k, v); }"
            )
            page = ctx.new_page()
            for spec in pages(url, chosen) + view_pages(views or {}, chosen):
                t0 = time.perf_counter()
                page.goto(spec["url"])
                found, missing = [], []
                for text in spec["expect"]:
                    try:
                        _wait_for_text(page, text, args.timeout_s, spec.get("scroll", False))
                        found.append(text)
                    except PlaywrightTimeout:
                        missing.append(text)
                if spec.get("expand"):
                    _expand_groups(page)
                if spec.get("scatter"):
                    missing += _scatter(page, *spec["scatter"], timeout_ms=args.timeout_s * 1000)
                for text in spec.get("absent", []):
                    if page.get_by_text(text, exact=True).count():
                        missing.append(f"{text} (should not show)")
                if spec.get("plot_axes"):
                    missing += _plot_axes(page, *spec["plot_axes"], args.timeout_s * 1000)
                if spec.get("image"):
                    try:  # a picture drawn at its size (the artifact viewer's <img>)
                        page.wait_for_function(
                            "() => [...document.images].some(i => i.complete && i.naturalWidth > 200)",
                            timeout=args.timeout_s * 1000,
                        )
                    except PlaywrightTimeout:
                        missing.append("<img> of the plot")
                page.wait_for_timeout(1500)  # let charts finish drawing
                path = out / f"{spec['name']}.png"
                page.screenshot(path=str(path))
                results.append(
                    {
                        "name": spec["name"],
                        "what": spec["what"],
                        "url": spec["url"],
                        "file": path.name,
                        "found": found,
                        "missing": missing,
                        "ok": not missing,
                        "seconds": round(time.perf_counter() - t0, 2),
                    }
                )
            ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return results


def _wait_for_text(page, text: str, timeout_s: float, scroll: bool) -> None:
    """Wait until ``text`` shows. With ``scroll``, wheel down while waiting: MLflow draws a
    chart only when it scrolls into view, and members log more metrics than fit a screen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    where = page.get_by_text(text, exact=False).first
    if not scroll:
        where.wait_for(state="visible", timeout=timeout_s * 1000)
        return
    size = page.viewport_size or {"width": 1600, "height": 1000}
    page.mouse.move(size["width"] / 2, size["height"] * 0.7)
    deadline = time.perf_counter() + timeout_s
    while True:
        try:
            where.wait_for(state="visible", timeout=2000)
            where.scroll_into_view_if_needed(timeout=2000)
            return
        except PlaywrightTimeout:
            if time.perf_counter() > deadline:
                raise
            page.mouse.wheel(0, size["height"] * 0.6)


def _expand_groups(page) -> None:
    """Open the parent (family) rows of the runs table so that the members show; bottom row
    first, so that the rows above do not move."""
    buttons = page.locator("button[data-component-id*='runnamecellrenderer']")
    for i in reversed(range(buttons.count())):
        buttons.nth(i).click(timeout=5000)
    page.wait_for_timeout(1000)


def _plot_axes(page, x: str, y: str, timeout_ms: float) -> list[str]:
    """A visible plot whose axes carry the metric names ``x`` and ``y``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(PLOT_WITH_AXES, arg=[x, y], timeout=timeout_ms)
    except PlaywrightTimeout as exc:
        return [f"a plot of {y} against {x} ({str(exc).splitlines()[0]})"]
    return []


PLOT_WITH_AXES = """([x, y]) => [...document.querySelectorAll('.js-plotly-plot')].some(p => {
    const t = s => [...p.querySelectorAll(s)].map(e => e.textContent);
    return p.getBoundingClientRect().width > 0
        && t('.xtitle').includes(x) && t('.ytitle').includes(y);
})"""


def _scatter(page, x: str, y: str, timeout_ms: float) -> list[str]:
    """On the comparison page: the scatter plot of metric ``y`` against metric ``x``."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.get_by_text("Scatter Plot", exact=True).first.click(timeout=timeout_ms)
        for axis, metric in (("x", x), ("y", y)):
            page.locator(f"#{axis}-axis-selector").click(timeout=timeout_ms)
            page.get_by_role("option", name=metric, exact=True).first.click(timeout=timeout_ms)
            page.locator(f"#{axis}-axis-selector").filter(has_text=metric).wait_for(
                timeout=timeout_ms
            )
        # a visible plot whose axes carry the two metric names
        page.wait_for_function(PLOT_WITH_AXES, arg=[x, y], timeout=timeout_ms)
    except PlaywrightTimeout as exc:
        return [f"scatter {y} vs {x} ({str(exc).splitlines()[0]})"]
    return []


def main(argv=None) -> int:
    args = parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if not Path(args.chromium).exists():
        raise SystemExit(f"Chromium not found at {args.chromium!r}: apt-get install chromium")
    record = {
        "script": "benchmarks/ui_screenshots.py",
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "chromium": subprocess.run(
            [args.chromium, "--version"], capture_output=True, text=True
        ).stdout.strip(),
        "pages": [],
    }
    proc, views = None, {}
    try:
        if args.workspace:
            proc, url, views = start_ui(args.workspace, args.timeout_s, out / "accelsearch_ui.log")
            record["printed_views"] = views
        else:
            url = args.tracking_uri.rstrip("/")
        import mlflow
        import playwright

        record["mlflow"] = mlflow.__version__
        record["playwright"] = getattr(playwright, "__version__", "")
        chosen = choose(url, args.experiment)
        record["experiment"] = chosen["experiment"]["name"]
        record["families"] = [f["info"]["run_name"] for f in chosen["families"]]
        record["members"] = sum(len(v) for v in chosen["members"].values())
        record["pages"] = shoot(args, url, chosen, out, views)
    finally:
        if proc is not None:
            stop(proc)
        (out / "ui_screenshots.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{'page':<16} {'ok':<4} {'s':>6}  file")
    for p in record["pages"]:
        print(
            f"{p['name']:<16} {'yes' if p['ok'] else 'NO':<4} {p['seconds']:>6.1f}  {out / p['file']}"
        )
        if p["missing"]:
            print(f"{'':<16} missing: {', '.join(p['missing'])}")
    return 0 if record["pages"] and all(p["ok"] for p in record["pages"]) else 1


if __name__ == "__main__":
    sys.exit(main())
