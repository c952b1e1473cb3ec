#!/usr/bin/env bash
# The prepared GPU check (a few minutes): ref-256 training in bf16 and sampling speed, with and without compile.
# Run from the repository root on a machine with an NVIDIA GPU after `make test` has built .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/audiodiff info
.venv/bin/python scripts/gpu_check.py --batch-size 8 --steps 40
.venv/bin/python scripts/gpu_check.py --batch-size 8 --steps 10 --compile
