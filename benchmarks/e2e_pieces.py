"""A whole ``accelsearch run`` in pieces, each killed with ``timeout -s KILL``, as on a
pre-emptible GPU node: every piece starts from the workspace the last one left (carried as an
archive to a fresh machine), runs ``accelsearch run`` the first time and ``accelsearch
resume`` after, and archives the workspace again when it ends or is killed.

    # each piece (the first finds no archive and starts the run):
    python benchmarks/e2e_pieces.py piece --recipe recipes/efficientnet_x_gpu.yaml \
        --workspace /tmp/effx --archive-in e2e/effx.tar.xz --archive-out $OUT/effx.tar.xz \
        --seconds 540 [--set KEY=VALUE ...]
    # when a piece reports the run finished:
    python benchmarks/e2e_pieces.py summarize --archive effx.tar.xz \
        --out benchmarks/results/e2e/e2e_effx_gpu_h100.json

``summarize`` counts, from the run's MLflow store and the pieces' log, the trials each piece
finished, ``trials_repeated`` (a trial id finished in more than one MLflow run: a finished
trial trained again after a kill) and ``trials_lost`` (a trial finished before a kill that
the final ``search.json`` does not hold), the device time, the family table and the
baselines' comparison.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from accelsearch.baselines_output import SECTION_END, SECTION_START  # the markers it writes

PIECES = "e2e_pieces.json"  # in the workspace: one record per piece
BUDGET_HEADING = "### Budget"  # summary.md's section of a search under a budget


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pc = sub.add_parser("piece", help="run or resume for at most --seconds, then archive")
    pc.add_argument("--recipe", required=True)
    pc.add_argument("--workspace", required=True, help="where the run's workspace lives here")
    pc.add_argument("--archive-in", help="the workspace archive the last piece left (if any)")
    pc.add_argument("--archive-out", required=True, help="where this piece leaves it (.tar.xz)")
    pc.add_argument("--seconds", type=float, default=540.0, help="then SIGKILL (timeout -s KILL)")
    pc.add_argument("--set", action="append", default=[], help="recipe override (first piece)")
    pc.add_argument("--log", help="the piece's output (default: stdout)")
    sm = sub.add_parser("summarize", help="the pieces' record of a finished run")
    sm.add_argument("--archive", required=True, help="the last piece's workspace archive")
    sm.add_argument("--out", required=True, help="JSON to write (a .md beside it)")
    return p.parse_args(argv)


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


# -- one piece ---------------------------------------------------------------------------------
def unpack(archive: str | None, workspace: Path) -> None:
    """The workspace from the last piece's archive (its members are relative to it), in a
    folder emptied first, as on a fresh node. Keep the workspace's path the same in every
    piece: Ray Tune's snapshot and its callbacks hold the absolute paths of the first one."""
    if archive and Path(archive).exists() and workspace.exists():
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    if archive and Path(archive).exists():
        with tarfile.open(archive) as tar:
            tar.extractall(workspace, filter="data")


def pack(workspace: Path, archive: str) -> int:
    out = Path(archive)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with tarfile.open(tmp, "w:xz", preset=6) as tar:
        for path in sorted(workspace.iterdir()):
            tar.add(path, arcname=path.name)
    tmp.replace(out)
    return out.stat().st_size


def run_state(workspace: Path) -> tuple[str, Path | None]:
    """("new" | "resume" | "done", the run folder)."""
    latest = workspace / "latest"
    if not (latest / "recipe.json").exists():
        return "new", None
    run_dir = latest.resolve()
    return ("done" if (run_dir / "summary.md").exists() else "resume"), run_dir


def piece_command(args, state: str, workspace: Path, run_dir: Path | None) -> list[str]:
    cli = [sys.executable, "-m", "accelsearch"]
    if state == "new":
        sets = [a for s in args.set for a in ("--set", s)]
        return [*cli, "run", args.recipe, "--output", str(workspace), *sets]
    # the store is found by its path here: the workspace may sit elsewhere than last time
    uri = f"sqlite:///{workspace.resolve() / 'mlflow.db'}"
    return [*cli, "resume", str(run_dir), "--tracking-uri", uri]


def run_killed_after(cmd: list[str], seconds: float, log) -> tuple[int, bool, float]:
    """``timeout -s KILL seconds cmd``, then what it left of Ray killed as a node's end would.
    Returns (exit status, killed, wall seconds)."""
    t0 = time.perf_counter()
    ray_tmp = tempfile.mkdtemp(prefix="e2e", dir="/tmp")  # short: Ray's socket paths live here
    proc = subprocess.Popen(
        ["timeout", "-s", "KILL", str(int(seconds)), *cmd],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "RAY_TMPDIR": ray_tmp},
    )  # fmt: skip
    rc = proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    kill_processes_of(ray_tmp)
    shutil.rmtree(ray_tmp, ignore_errors=True)
    return rc, rc in (124, 137, -9), time.perf_counter() - t0


def kill_processes_of(marker: str) -> int:
    """SIGKILL every process whose command line names ``marker`` (this run's Ray temp folder:
    its raylet, GCS and agents run in sessions of their own) and all their descendants (the
    trial workers). Other Ray clusters on the machine are left alone (no ``ray stop``)."""
    procs: dict[int, tuple[int, str]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile, or not readable
        procs[int(entry.name)] = (ppid, cmdline)
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in procs.items():
        children.setdefault(ppid, []).append(pid)
    todo = [pid for pid, (_, cmd) in procs.items() if marker in cmd and pid != os.getpid()]
    doomed: set[int] = set()
    while todo:
        pid = todo.pop()
        if pid not in doomed:
            doomed.add(pid)
            todo += children.get(pid, [])
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return len(doomed)


def piece(args) -> int:
    workspace = Path(args.workspace)
    unpack(args.archive_in, workspace)
    pieces_path = workspace / PIECES
    pieces = json.loads(pieces_path.read_text()) if pieces_path.exists() else []
    state, run_dir = run_state(workspace)
    record: dict[str, Any] = {"piece": len(pieces) + 1, "state": state, "started": now()}
    if state == "done":
        pack(workspace, args.archive_out)  # the next step finds the run where it expects it
        print(f"[e2e] the run in {workspace} has finished; nothing to do")
        return 0
    cmd = piece_command(args, state, workspace, run_dir)
    record["command"] = " ".join(cmd[1:])
    log = open(args.log, "a") if args.log else None  # noqa: SIM115 - closed below
    try:
        rc, killed, wall = run_killed_after(cmd, args.seconds, log)
    finally:
        if log:
            log.close()
    state_after, run_dir = run_state(workspace)
    record.update(ended=now(), rc=rc, killed=killed, wall_s=round(wall, 1), after=state_after)
    record["device"] = device_name()
    pieces.append(record)
    pieces_path.write_text(json.dumps(pieces, indent=2))
    record["archive_bytes"] = pack(workspace, args.archive_out)
    print(f"[e2e] piece {record['piece']}: {state} -> {state_after}, rc {rc}, {wall:.0f} s")
    return 0 if state_after == "done" or killed else rc


def device_name() -> str:
    try:
        import torch  # heavy, and only for the record

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    return "cpu"


# -- the record of a finished run ---------------------------------------------------------------
def trial_runs(workspace: Path) -> list[dict[str, Any]]:
    """Every trial run in the workspace's MLflow store, read with ``sqlite3``: the GPU node's
    MLflow may be newer than this machine's (its schema then refuses an older client), and
    the record needs only each run's status, end time and trial tag. A candidate the
    latency-budget screen rejected before the GPU is a run of its own (tag
    ``accelsearch.screened: true``) but not a trial: left out."""
    query = (
        "SELECT t.value, r.status, r.end_time FROM runs r "
        "JOIN tags k ON k.run_uuid = r.run_uuid AND k.key = 'accelsearch.kind' AND k.value = 'trial' "
        "LEFT JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'accelsearch.trial_id' "
        "LEFT JOIN tags s ON s.run_uuid = r.run_uuid AND s.key = 'accelsearch.screened' "
        "WHERE s.value IS NULL OR s.value != 'true'"
    )
    with contextlib.closing(sqlite3.connect(workspace / "mlflow.db")) as db:
        rows = db.execute(query).fetchall()
    return [{"trial_id": tid, "status": st, "end": (end or 0) / 1000} for tid, st, end in rows]


def stamp(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def trial_counts(pieces, runs, final_ids: set[str]) -> dict[str, Any]:
    """Trials finished per piece, finished trials trained again, finished trials lost."""
    finished = [r for r in runs if r["status"] == "FINISHED"]
    per_piece = [
        sum(1 for r in finished if stamp(pc["started"]) <= r["end"] <= stamp(pc["ended"]) + 1)
        for pc in pieces
    ]
    counts: dict[str, int] = {}
    for r in finished:
        counts[r["trial_id"]] = counts.get(r["trial_id"], 0) + 1
    before_kills = {
        r["trial_id"]
        for pc in pieces
        if pc.get("killed")
        for r in finished
        if r["end"] <= stamp(pc["ended"]) + 1
    }
    return {
        "trials_per_piece": per_piece,
        "trials_finished": len(counts),
        "trials_repeated": sum(n - 1 for n in counts.values()),
        "trials_lost": sorted(before_kills - final_ids),
        "trial_runs_killed": sum(1 for r in runs if r["status"] == "KILLED"),
    }


def family_rows(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "family.json"
    if not path.exists():
        return []
    keys = ("name", "target_ms", "latency_ms", "latency_error", "within_tolerance", "accuracy",
            "params_m", "gflops", "utilisation", "solve")  # fmt: skip
    return [{k: m.get(k) for k in keys} for m in json.loads(path.read_text())["members"]]


def summarize(args) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        unpack(args.archive, workspace)
        pieces = json.loads((workspace / PIECES).read_text())
        state, run_dir = run_state(workspace)
        if run_dir is None:
            raise SystemExit(f"{args.archive} holds no run (no latest/recipe.json)")
        search_json = run_dir / "search.json"  # written when the search ends, before LACS
        search = json.loads(search_json.read_text()) if search_json.exists() else {}
        final_ids = {t["trial_id"] for t in search.get("trials", [])}
        baselines = run_dir / "baselines.json"
        result = {
            "benchmark": "e2e_pieces",
            "date": now(),
            "state": state,
            "calls": len(pieces),
            "pieces": pieces,
            "device_seconds": round(sum(pc["wall_s"] for pc in pieces), 1),
            **trial_counts(pieces, trial_runs(workspace), final_ids),
            "family": family_rows(run_dir),
            "baselines": json.loads(baselines.read_text()) if baselines.exists() else None,
            "summary_md": (run_dir / "summary.md").read_text() if state == "done" else None,
        }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str))
    out.with_suffix(".md").write_text(markdown(result))
    print(out.with_suffix(".md").read_text())
    return 0


def markdown(r: dict[str, Any]) -> str:
    killed = sum(1 for p in r["pieces"] if p.get("killed"))
    lines = [
        f"# A run in {r['calls']} piece{'s' * (r['calls'] != 1)}, {killed} of them killed "
        f"({r['pieces'][-1].get('device')})",
        "",
        f"{r['date'][:10]}; state at the end: {r['state']}; device time "
        f"{r['device_seconds'] / 60:.1f} min; trials per piece {r['trials_per_piece']}; "
        f"**trials_repeated {r['trials_repeated']}, trials_lost {len(r['trials_lost'])}** "
        f"(trial runs killed mid-way and run again: {r['trial_runs_killed']}).",
        "",
        "| piece | state | command | rc | killed | wall s |",
        "|---:|---|---|---:|---|---:|",
    ]
    lines += [
        f"| {p['piece']} | {p['state']} → {p['after']} | `{p['command']}` | {p['rc']} | "
        f"{p['killed']} | {p['wall_s']} |"
        for p in r["pieces"]
    ]
    if r["family"]:
        lines += [
            "",
            "| member | target ms | ms | err % | acc | util |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for m in r["family"]:
            err = 100 * (m["latency_error"] or 0)
            util = m["utilisation"]
            lines.append(
                f"| {m['name']} | {m['target_ms']:.3f} | {m['latency_ms']:.3f} | {err:+.1f} | "
                f"{'–' if m['accuracy'] is None else format(m['accuracy'], '.2f')} | "
                f"{'–' if util is None else f'{100 * util:.1f} %'} |"
            )
    summary_md = r.get("summary_md")
    return "\n".join(lines + budget_section(summary_md) + baseline_section(summary_md)) + "\n"


def budget_section(summary_md: str | None) -> list[str]:
    """The *Budget* section ``accelsearch`` wrote into the run's summary.md (a search under a
    latency budget: candidates screened, measured, trained; GPU-seconds spent and saved), up
    to the next heading."""
    if not summary_md or BUDGET_HEADING not in summary_md:
        return []
    body = summary_md.split(BUDGET_HEADING, 1)[1].splitlines()[1:]  # after the heading's line
    end = next((i for i, ln in enumerate(body) if ln.startswith("#")), len(body))
    return ["", "## Budget", *body[:end]]


def baseline_section(summary_md: str | None) -> list[str]:
    """The comparison ``accelsearch`` wrote into the run's summary.md (between its baseline
    markers), its heading one level down; the figure stays in the run folder."""
    if not summary_md or SECTION_START not in summary_md:
        return []
    body = summary_md.split(SECTION_START, 1)[1].split(SECTION_END, 1)[0].strip().splitlines()
    return [""] + ["#" + ln if ln.startswith("## ") else ln for ln in body if "](" not in ln]


def main(argv=None) -> int:
    args = parse_args(argv)
    return piece(args) if args.cmd == "piece" else summarize(args)


if __name__ == "__main__":
    sys.exit(main())
