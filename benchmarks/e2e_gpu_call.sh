#!/usr/bin/env bash
# One piece of a recipe run in killed pieces on the device (docs/gpu.md section 4):
#   bash benchmarks/e2e_gpu_call.sh SECS [JOB] [TRIALS]
# JOB effx (default): issue 16's EfficientNet-X run; budget: recipes/under_budget_gpu.yaml,
# reduced to fit a session (TRIALS: its num_samples, 24 by default). The piece resumes from
# the archive the last one left (copied back over ARCHIVE below) and leaves its own as
# $OUT/JOB.tar.xz. ARCHIVE=path (budget only) resumes from, or starts, another run;
# SEED=n (budget only, a new run) sets the recipe's search.seed and seed.
SECS=${1:-480}
JOB=${2:-effx}
TRIALS=${3:-24}
DATA=(--set accuracy.options.dataset=/tmp/data/cifar10-train-50k.tar.xz
      --set accuracy.options.val_dataset=/tmp/data/cifar10-test-10k.tar.xz)
SHARED=(--set search.max_concurrent=4 --set search.gpus_per_trial=0.25)
case $JOB in
  effx) RECIPE=recipes/efficientnet_x_gpu.yaml
        ARCHIVE=benchmarks/results/e2e/effx_h100_state/effx.tar.xz
        SETS=(--set search.num_samples=12 "${SHARED[@]}" --set search.options.n_startup_trials=8
              "${DATA[@]}"
              --set 'baselines.models=[efficientnet_b0,efficientnet_b1,efficientnet_b2,efficientnet_b3,resnet18,resnet34,resnet50,gernet_s,gernet_m,gernet_l]') ;;
  budget) RECIPE=recipes/under_budget_gpu.yaml
        ARCHIVE=${ARCHIVE:-benchmarks/results/search/under_budget_state/budget.tar.xz}
        SETS=(--set search.num_samples=$TRIALS "${SHARED[@]}" --set search.cpus_per_trial=3 "${DATA[@]}")
        [ -n "$SEED" ] && SETS+=(--set search.seed=$SEED --set seed=$SEED) ;;
  *) echo "unknown job $JOB (effx, budget)"; exit 2 ;;
esac
# each run its own latency cache: a second run on a warm machine must measure, not read the
# first run's figures (its GPU-seconds would then be too low)
export ACCELSEARCH_LATENCY_CACHE=/tmp/latency-$(basename "$ARCHIVE" .tar.xz).sqlite
t0=$(date +%s)
mkdir -p /tmp/site && tar -xJf .bundle/site.tar.xz -C /tmp/site
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
mkdir -p /tmp/data && cp .data/*.tar.xz /tmp/data/
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import sys,torch,timm,ray,mlflow,optuna;print(sys.version.split()[0],'torch',torch.__version__,'timm',timm.__version__,'ray',ray.__version__,'mlflow',mlflow.__version__,'optuna',optuna.__version__)"; echo "setup_s $(( $(date +%s) - t0 ))"; } > $OUT/env.txt 2>&1
python3 benchmarks/e2e_pieces.py piece --recipe $RECIPE \
  --workspace /tmp/$JOB --archive-in $ARCHIVE --archive-out $OUT/$JOB.tar.xz \
  --seconds $SECS --log $OUT/piece.log "${SETS[@]}" > $OUT/e2e.txt 2>&1
echo "rc $? total_s $(( $(date +%s) - t0 ))" >> $OUT/e2e.txt
tail -5 $OUT/e2e.txt; tail -40 $OUT/piece.log | cut -c1-220
