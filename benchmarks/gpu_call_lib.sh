# Sourced by the benchmarks' device-call scripts. Work happens in $W (outside $OUT); every
# 20 s and at the end $W is packed into $OUT/results.tgz, so a call cut at its limit still
# brings back what finished, and the device's 8-file limit is never hit.
W=${W:-/tmp/w}; mkdir -p "$W"  # one folder for all scripts of a call: one archive holds them all
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
pack() { tar czf "$OUT/.results.$$.tgz" -C "$W" . 2>/dev/null; [ $? -le 1 ] && mv "$OUT/.results.$$.tgz" "$OUT/results.tgz"; }  # 1: a file changed while read
( while sleep 20; do pack; done ) >/dev/null 2>&1 & PACKER=$!  # not on our stdout: its sleep would hold the pipe open
trap 'kill $PACKER 2>/dev/null; pack' EXIT
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  python3 -c "import sys,torch,timm;print(sys.version.split()[0],'torch',torch.__version__,'timm',timm.__version__)"
} > "$W/env.txt" 2>&1
