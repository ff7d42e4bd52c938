#!/usr/bin/env bash
# One piece of issue 16's end-to-end run on the device (see docs/gpu.md section 4).
SECS=${1:-480}
t0=$(date +%s)
mkdir -p /tmp/site && tar -xJf .bundle/site.tar.xz -C /tmp/site
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
mkdir -p /tmp/data && cp .data/*.tar.xz /tmp/data/
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import sys,torch,timm,ray,mlflow,optuna;print(sys.version.split()[0],'torch',torch.__version__,'timm',timm.__version__,'ray',ray.__version__,'mlflow',mlflow.__version__,'optuna',optuna.__version__)"; echo "setup_s $(( $(date +%s) - t0 ))"; } > $OUT/env.txt 2>&1
python3 benchmarks/e2e_pieces.py piece --recipe recipes/efficientnet_x_gpu.yaml \
  --workspace /tmp/effx --archive-in benchmarks/results/e2e/effx_h100_state/effx.tar.xz --archive-out $OUT/effx.tar.xz \
  --seconds $SECS --log $OUT/piece.log \
  --set search.num_samples=12 --set search.max_concurrent=4 --set search.gpus_per_trial=0.25 \
  --set search.options.n_startup_trials=8 \
  --set accuracy.options.dataset=/tmp/data/cifar10-train-50k.tar.xz \
  --set accuracy.options.val_dataset=/tmp/data/cifar10-test-10k.tar.xz \
  --set 'baselines.models=[efficientnet_b0,efficientnet_b1,efficientnet_b2,efficientnet_b3,resnet18,resnet34,resnet50,gernet_s,gernet_m,gernet_l]' \
  > $OUT/e2e.txt 2>&1
echo "rc $? total_s $(( $(date +%s) - t0 ))" >> $OUT/e2e.txt
tail -5 $OUT/e2e.txt; tail -30 $OUT/piece.log
