#!/usr/bin/env bash
# Train the shipped base model's recipe on a lent GPU for MINUTES of wall time (the `base-gpu` preset: 4x the batch
# in bf16, constant learning rate after warm-up, EMA, a checkpoint every 500 steps), then hand back:
#   $OUT/base-export.tar   the exported pipeline at the newest checkpoint (fp16, as audiodiff/pretrained/base-64
#                          would hold it, with training.json): score it here with
#                          `bench_base.py --base FOLDER --also-scheduler dpm` and commit it only if it beats the
#                          shipped one;
#   $OUT/train.log         the training's output.
# The run's checkpoint (57 MB with the optimizer state) does not come back: it would not travel again beside the
# wheels, the dataset and the working tree (64 MiB in all), so each lent GPU trains one run of MINUTES.
# Run from the repository root with `.gpu/` made by scripts/gpu_base_carry.sh. PYTHON: the interpreter (python3,
# the GPU image's); WORK: the scratch folder; TRAIN_OPTIONS: more `audiodiff train` options (a trial on a CPU:
# "--batch-size 4 --mixed-precision no --checkpoint-every 2"); INSTALL_WHEELS=0: use PYTHON's own packages.
#
#     OUT=... scripts/gpu_base.sh MINUTES
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:?minutes of training}
OUT=${OUT:?set OUT to the folder for the results}
PYTHON=${PYTHON:-python3}
WORK=${WORK:-/tmp/audiodiff-base-work}
if [ "${INSTALL_WHEELS:-1}" = 1 ] && compgen -G ".gpu/wheels/*.whl" >/dev/null; then
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu-site \
    .gpu/wheels/*.whl
  export PYTHONPATH=/tmp/gpu-site:${PYTHONPATH:-}
fi
export PYTHONPATH=$PWD:${PYTHONPATH:-}
# Fails here, in seconds, if the image's packages do not fit the carried ones (datasets needs pyarrow >= 24).
"$PYTHON" -c "import datasets, diffusers, pyarrow, torch; print('datasets', datasets.__version__, 'pyarrow', \
pyarrow.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
"$PYTHON" -m audiodiff.cli.main info
rm -rf "$WORK/run"
mkdir -p "$WORK" "$OUT"
cp -r .gpu/work/dataset .gpu/work/split.json "$WORK"/
status=0
# shellcheck disable=SC2086 # TRAIN_OPTIONS is a list of options
timeout --signal=INT "$((MINUTES * 60))" "$PYTHON" scripts/train_base.py --work "$WORK" --stage train \
  --config base-gpu ${TRAIN_OPTIONS:-} >"$OUT/train.log" 2>&1 || status=$?
tail -c 600 "$OUT/train.log"
echo
echo "training ended with status $status (124: stopped by the time budget)"
# Close the run at its newest checkpoint: resuming with --max-steps at that step trains nothing and writes the
# pipeline (EMA weights) of that step.
last=$(find "$WORK/run/checkpoints" -maxdepth 1 -name 'step_*' | sort | tail -n 1)
[ -n "$last" ] || { echo "no checkpoint was written in $MINUTES minutes" >&2; exit 1; }
steps=$((10#${last##*step_}))
"$PYTHON" scripts/train_base.py --work "$WORK" --stage train --config base-gpu --max-steps "$steps" \
  >>"$OUT/train.log" 2>&1
rm -rf "$WORK/export"
mkdir -p "$WORK/export/base-64"
cp audiodiff/pretrained/base-64/MODEL_CARD.md "$WORK/export/base-64/"
"$PYTHON" scripts/train_base.py --work "$WORK" --stage export --export "$WORK/export/base-64"
tar -C "$WORK/export" -cf "$OUT/base-export.tar" base-64
ls -l "$OUT"
