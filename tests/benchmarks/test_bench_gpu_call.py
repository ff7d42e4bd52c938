"""The device-call scripts bring everything back as one archive (the device returns 8 files)."""

import os
import subprocess
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_proxy_call_packs_its_work_into_one_archive(tmp_path):
    out, work = tmp_path / "out", tmp_path / "w"
    out.mkdir()
    env = dict(os.environ, OUT=str(out), W=str(work))
    # a negative time budget: the run starts no training but still writes its files
    spec = "pfq --quick --variants scale57h --models resnet10t"
    done = subprocess.run(
        ["bash", "benchmarks/proxy_gpu_call.sh", "30", spec],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == ["results.tgz"]
    with tarfile.open(out / "results.tgz") as tar:
        names = {Path(n).name for n in tar.getnames()}
    assert {"env.txt", "pfq.json", "pfq.log", "pfq.md"} <= names
    assert "== " in done.stdout  # the logs' tails are printed for the call's output
