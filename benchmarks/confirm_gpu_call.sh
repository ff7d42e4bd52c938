#!/usr/bin/env bash
# search.confirm on a finished budget run, on the device (docs/search.md, "Confirming the
# winner"):   ARCHIVE=... TOP=5 SEEDS=2 [MAX_SEEDS=6] bash benchmarks/confirm_gpu_call.sh [SECS]
# The run's workspace (an e2e_gpu_call.sh archive, made at /tmp/budget) is unpacked where it
# was made, its recipe.json given `search.confirm: {top: TOP, seeds: SEEDS}`, and
# `accelsearch resume` goes on from its search.json: the confirming runs, then the summary.
# Killed after SECS (default 540); the archive it leaves ($OUT/confirm.tar.xz) holds the
# confirm checkpoint, so a second call with ARCHIVE set to it trains only what is missing.
SECS=${1:-540}
TOP=${TOP:-5}
SEEDS=${SEEDS:-2}
MAX_SEEDS=${MAX_SEEDS:-0}  # 0: no race
t0=$(date +%s)
mkdir -p /tmp/site && tar -xJf .bundle/site.tar.xz -C /tmp/site
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
mkdir -p /tmp/data && cp .data/*.tar.xz /tmp/data/
rm -rf /tmp/budget && mkdir -p /tmp/budget && tar -xJf "$ARCHIVE" -C /tmp/budget
python3 - "$TOP" "$SEEDS" "$MAX_SEEDS" <<'PY'
import json, pathlib, sys
p = pathlib.Path("/tmp/budget/latest/recipe.json")
r = json.loads(p.read_text())
r["search"]["confirm"] = {"top": int(sys.argv[1]), "seeds": int(sys.argv[2])}
if int(sys.argv[3]):
    r["search"]["confirm"]["max_seeds"] = int(sys.argv[3])
p.write_text(json.dumps(r, indent=2))
PY
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import sys,torch;print(sys.version.split()[0],'torch',torch.__version__)"; echo "setup_s $(( $(date +%s) - t0 ))"; } > $OUT/env.txt 2>&1
timeout -s KILL "$SECS" python3 -m accelsearch resume /tmp/budget/latest \
  --tracking-uri sqlite:////tmp/budget/mlflow.db > $OUT/confirm.log 2>&1
echo "rc $? total_s $(( $(date +%s) - t0 ))" >> $OUT/confirm.log
(cd /tmp/budget && tar -cJf $OUT/confirm.tar.xz .)
grep "confirm" $OUT/confirm.log | cut -c1-200 | tail -20; tail -3 $OUT/confirm.log
