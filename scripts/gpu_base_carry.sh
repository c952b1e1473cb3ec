#!/usr/bin/env bash
# Stage `.gpu/` (git-ignored) for scripts/gpu_base.sh on a lent GPU machine: the wheels its image lacks (for its
# Python 3.12, at this project's pinned versions: 8.7 MB) and the base model's prepared dataset and split (made here
# by `scripts/train_base.py --stage data`: 6.7 MB). Then call the device with carry [".gpu"] and the command
# `OUT=$OUT scripts/gpu_base.sh MINUTES` (README, "The shipped base model on a GPU").
#
#     scripts/gpu_base_carry.sh
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=${AUDIODIFF_BASE_WORK:-$HOME/.cache/audiodiff/base-64}
[ -f "$WORK/split.json" ] && [ -d "$WORK/dataset" ] || {
  echo "no prepared base dataset in $WORK: run python scripts/train_base.py --stage data first" >&2
  exit 1
}
mkdir -p .git/info
grep -qx "/.gpu/" .git/info/exclude 2>/dev/null || echo "/.gpu/" >>.git/info/exclude
rm -rf .gpu
mkdir -p .gpu/wheels .gpu/work
# The image has torch, accelerate, safetensors, huggingface_hub, pyarrow, pandas, tensorboard and the rest
# (/work/.library/device/KINDS.md); these are what audiodiff's training path imports beyond them.
for package in diffusers datasets dill multiprocess soundfile cffi pycparser importlib_metadata fsspec; do
  version=$(grep -i "^${package}==" constraints.txt | cut -d= -f3)
  [ -n "$version" ] || { echo "$package is not pinned in constraints.txt" >&2; exit 1; }
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d .gpu/wheels "$package==$version" 2>&1 | grep -v "^WARNING: Location" || true
done
cp -r "$WORK/dataset" "$WORK/split.json" .gpu/work/
du -sh .gpu .gpu/*
