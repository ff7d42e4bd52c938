#!/usr/bin/env bash
# One device call of issue 15's proxy-fidelity runs: several proxy_fidelity.py runs side by
# side on one GPU, each appending to its own JSONL under $OUT (a killed run keeps what
# finished). usage: bash benchmarks/proxy_gpu_call.sh SECONDS "ARGS1" ["ARGS2" ...]
# Each ARGS: "NAME --variants V --models M --seeds S --workers W" (NAME names the output).
SECS=$1; shift
t0=$(date +%s)
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import sys,torch,timm;print(sys.version.split()[0],'torch',torch.__version__,'timm',timm.__version__)"
} > "$OUT/env.txt" 2>&1
for spec in "$@"; do
  set -- $spec; name=$1; shift
  prev=benchmarks/results/accuracy/$name.jsonl
  [ -f "$prev" ] && cp "$prev" "$OUT/$name.jsonl"
  timeout -k 10 -s TERM "$SECS" python3 benchmarks/proxy_fidelity.py --device cuda \
    --train .data/cifar10-train-50k.tar.gz --val .data/cifar10-test-10k.tar.gz \
    --out "$OUT/$name.json" --time-budget-s $((SECS - 120)) "$@" > "$OUT/$name.log" 2>&1 &
done
wait
echo "total_s $(( $(date +%s) - t0 ))" >> "$OUT/env.txt"
nvidia-smi --query-gpu=name --format=csv,noheader >> "$OUT/env.txt"
for f in "$OUT"/*.log; do echo "== $f"; tail -4 "$f"; done
