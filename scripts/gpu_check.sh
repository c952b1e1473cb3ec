#!/usr/bin/env bash
# The prepared GPU check (a few minutes): ref-256 training in bf16, sampling (eager, bf16, compiled) and decoding
# speed per clip, then the CUDA tests. Run from the repository root on a machine with an NVIDIA GPU after
# `make test` has built .venv; PYTHON=... runs it with another interpreter that has audiodiff importable.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
"$PYTHON" -m audiodiff.cli.main info
"$PYTHON" scripts/gpu_check.py --batch-size 8 --steps 40 --compile
"$PYTHON" -m pytest -q -p no:cacheprovider tests/test_gpu.py tests/test_codec.py -k cuda
