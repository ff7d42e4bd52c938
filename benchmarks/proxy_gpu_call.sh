#!/usr/bin/env bash
# One device call of issue 15's proxy-fidelity runs: several proxy_fidelity.py runs side by
# side on one GPU, each appending to its own JSONL (a killed run keeps what finished; a
# JSONL of the same name under benchmarks/results/accuracy/ is carried in, so a rerun only
# trains what is missing). Everything comes back as $OUT/results.tgz.
# usage: bash benchmarks/proxy_gpu_call.sh SECONDS "NAME --variants V --models M --seeds S --workers W" ...
SECS=$1; shift
t0=$(date +%s)
. benchmarks/gpu_call_lib.sh
for spec in "$@"; do
  set -- $spec; name=$1; shift
  prev=benchmarks/results/accuracy/$name.jsonl
  [ -f "$prev" ] && cp "$prev" "$W/$name.jsonl"
  timeout -k 10 -s TERM "$SECS" python3 benchmarks/proxy_fidelity.py --device cuda \
    --train .data/cifar10-train-50k.tar.gz --val .data/cifar10-test-10k.tar.gz \
    --out "$W/$name.json" --time-budget-s $((SECS - 120)) "$@" > "$W/$name.log" 2>&1 &
  pids="$pids $!"
done
wait $pids
echo "total_s $(( $(date +%s) - t0 ))" >> "$W/env.txt"
for f in "$W"/*.log; do echo "== $f"; tail -4 "$f"; done
