#!/usr/bin/env bash
# One device call of issue 15's LACS runs (benchmarks/lacs_gpu.py with the recipe proxy),
# resuming from the state folder STATE (copied in; the updated state comes back in
# $OUT/results.tgz under state/). usage: bash benchmarks/lacs_gpu_call.sh SECONDS STATE NAME ARGS...
SECS=$1; STATE=$2; NAME=$3; shift 3
t0=$(date +%s)
. benchmarks/gpu_call_lib.sh
rm -rf "$W/state" && cp -r "$STATE" "$W/state"  # into an existing folder cp would nest it
timeout -k 10 -s TERM "$SECS" python3 benchmarks/lacs_gpu.py --device cuda --proxy recipe \
  --cifar-train .data/cifar10-train-50k.tar.gz --cifar-test .data/cifar10-test-10k.tar.gz \
  --state-dir "$W/state" --out "$W/$NAME.json" --time-budget-s $((SECS - 60)) "$@" \
  > "$W/$NAME.log" 2>&1
echo "rc $? total_s $(( $(date +%s) - t0 ))" >> "$W/env.txt"
tail -25 "$W/$NAME.log"
