#!/usr/bin/env bash
# Train the sequence model a few epochs on the CPU and on the GPU (same data); print one JSON line.
# Needs the dl extra with a CUDA build of torch 2.13.0 on the GPU machine (see pyproject.toml's dl extra).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
exec "$PYTHON" scripts/gpu_check.py "$@"
