#!/usr/bin/env bash
# The main job: sets up .venv and runs the keras.io experiment
# (mixup vs baseline on Fashion-MNIST). Arguments go to the script, e.g.
#   bash scripts/main_job.sh --epochs 10 --data-dir /path/to/fashion-mnist
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_python="$(bash "$repo/scripts/setup_env.sh")"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$venv_python" "$repo/scripts/train_fashion_mnist.py" "$@"
