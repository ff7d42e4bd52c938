"""The README's quickstart as a new user runs it: wall time, peak memory, the family.

Runs ``accelsearch run recipes/quickstart.yaml`` in a fresh output folder with a fresh
accelsearch cache (``ACCELSEARCH_CACHE``: no latency measured earlier on this machine is
reused, as on a new user's machine) and records: the wall time; the peak memory of the
run's whole process tree (the driver, Ray's processes and its trial workers: their PSS
summed, sampled every second) and the CPU seconds the tree used; the trials' latencies; the family's members (target, latency, error, φ,
accuracy, how LACS stopped); the machine's load before and after (``uptime``) and the
busiest other processes, since on a shared machine those move every number here.

Run here (CPU)::

    python benchmarks/quickstart_run.py --out benchmarks/results/quickstart/quickstart_cpu_idle.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks._common import environment  # noqa: E402


def process_tree(root: int) -> set[int]:
    """``root`` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                stat = fh.read()
        except OSError:
            continue
        parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    family, grew = {root}, True
    while grew:
        new = {pid for pid, ppid in parents.items() if ppid in family} - family
        family |= new
        grew = bool(new)
    return family


def pss_bytes(pid: int) -> int:
    """Proportional set size: resident memory with pages shared between processes (the
    PyTorch libraries every Ray worker maps) divided among them, so a sum is not inflated."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def busiest(n: int = 6) -> list[str]:
    out = subprocess.run(
        ["ps", "-eo", "ni,pcpu,etime,args", "--sort=-pcpu"], capture_output=True, text=True
    ).stdout.splitlines()
    return [line[:140] for line in out[: n + 1]]


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def run_quickstart(recipe: str, work: Path, log: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "ACCELSEARCH_LATENCY_CACHE"}
    env["ACCELSEARCH_CACHE"] = str(work / "cache")  # empty: nothing measured before is reused
    output = work / "runs" / "quickstart"
    cmd = [shutil.which("accelsearch") or "accelsearch", "run", recipe, "--output", str(output)]
    peak, cpu = 0, {}  # peak summed PSS; last CPU seconds seen per process
    t0 = time.perf_counter()
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                pids = process_tree(proc.pid)
                peak = max(peak, sum(pss_bytes(pid) for pid in pids))
                for pid in pids:
                    cpu[pid] = max(cpu.get(pid, 0.0), cpu_seconds(pid))
                done.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = proc.wait()
        done.set()
        sampler.join()
    wall = time.perf_counter() - t0
    return {
        "command": " ".join(cmd),
        "exit_code": code,
        "wall_s": wall,
        "peak_pss_gb": peak / 1e9,
        "cpu_s": sum(cpu.values()),
        "output": str(output),
    }


def family_rows(run_dir: Path) -> dict[str, Any]:
    fam = json.loads((run_dir / "family.json").read_text())
    members = []
    for m in fam["members"]:
        lat = m.get("latency") or {}
        members.append(
            {
                "name": m["name"],
                "target_ms": m["target_ms"],
                "latency_ms": m["latency_ms"],
                "error_pct": 100 * (m.get("latency_error") or 0.0),
                "phi": m.get("phi"),
                "accuracy": m.get("accuracy"),
                "solve": m.get("solve"),
                "noisy": lat.get("noisy"),
                "device_name": lat.get("device_name"),
            }
        )
    trials = json.loads((run_dir / "search.json").read_text())["trials"]
    lats = [t["metrics"]["latency_ms"] for t in trials if "latency_ms" in t.get("metrics", {})]
    return {
        "alpha_beta_gamma": [fam["alpha"], fam["beta"], fam["gamma"]],
        "base_latency_ms": fam["base_latency_ms"],
        "members": members,
        "lacs_wall_s": fam.get("wall_s"),
        "trials": len(trials),
        "trial_latency_ms": {"min": min(lats), "median": statistics.median(lats), "max": max(lats)}
        if lats
        else None,
    }


def write_md(path: Path, data: dict[str, Any]) -> None:
    env, run, fam = data["environment"], data["run"], data.get("family") or {}
    m, s = divmod(round(run["wall_s"]), 60)
    lines = [
        "# The README's quickstart, run as a new user runs it",
        "",
        f"{env['date']}, {env['host_cpus']} cores, torch {env['torch']}; fresh output folder "
        "and accelsearch cache.",
        f"Load before: `{data['uptime_before']}`; after: `{data['uptime_after']}`.",
        "",
        f"Command: `{data['command']}` (runs `{run['command']}`)",
        "",
        f"Exit code {run['exit_code']}; wall time {m} min {s} s; peak memory of the process "
        f"tree {run['peak_pss_gb']:.1f} GB (summed PSS); CPU time of the tree "
        f"{run['cpu_s']:.0f} s (sampled every second: a process that lived under a second is "
        "missed).",
    ]
    if fam:
        t = fam["trial_latency_ms"]
        lines += [
            f"Trials: {fam['trials']}, latency {t['min']:.2f}-{t['max']:.2f} ms (median "
            f"{t['median']:.2f}). Family (α, β, γ) = {tuple(fam['alpha_beta_gamma'])}, base "
            f"{fam['base_latency_ms']:.3f} ms; LACS {fam['lacs_wall_s'] or 0:.0f} s.",
            "",
            "| member | target ms | latency ms | error % | φ | accuracy % | solve | noisy |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in fam["members"]:
            lines.append(
                f"| {r['name']} | {r['target_ms']:.3f} | {r['latency_ms']:.3f} | "
                f"{r['error_pct']:+.1f} | {r['phi'] or 0:.3f} | {r['accuracy'] or 0:.2f} | "
                f"{r['solve']} | {r['noisy']} |"
            )
    lines += ["", "Busiest processes before:", "```", *data["busiest_before"], "```"]
    lines += ["Busiest processes after:", "```", *data["busiest_after"], "```"]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="recipes/quickstart.yaml")
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks/results/quickstart/quickstart_cpu_idle.json"
    )
    p.add_argument("--keep", action="store_true", help="keep the run's folder (printed)")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="quickstart-"))
    data: dict[str, Any] = {
        "command": "python " + " ".join(sys.argv),
        "uptime_before": uptime(),
        "busiest_before": busiest(),
    }
    data["run"] = run_quickstart(args.recipe, work, work / "run.log")
    data["uptime_after"], data["busiest_after"] = uptime(), busiest()
    run_dir = Path(data["run"]["output"]) / "latest"
    if data["run"]["exit_code"] == 0:
        data["family"] = family_rows(run_dir.resolve())
    data["log_tail"] = (work / "run.log").read_text().splitlines()[-60:]
    data["environment"] = environment("cpu")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2))
    write_md(args.out.with_suffix(".md"), data)
    print(args.out.with_suffix(".md").read_text())
    print("\n".join(data["log_tail"]))
    if args.keep:
        print(f"run folder kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
