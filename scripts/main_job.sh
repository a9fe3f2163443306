#!/usr/bin/env bash
# The main job: sets up .venv and runs the keras.io experiment
# (mixup vs baseline on Fashion-MNIST). Arguments go to the script, e.g.
#   bash scripts/main_job.sh --epochs 10 --data-dir /path/to/fashion-mnist
# The backend is KERAS_BACKEND (tensorflow by default) or --backend NAME;
# each installs its extra.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
backend="${KERAS_BACKEND:-tensorflow}"
previous=""
for arg in "$@"; do
  if [ "$previous" = "--backend" ]; then backend="$arg"; fi
  case "$arg" in --backend=*) backend="${arg#--backend=}" ;; esac
  previous="$arg"
done
export KERAS_BACKEND="$backend"
# The experiment feeds the keras.io pipeline through tf.data on every
# backend: TensorFlow beside the backend's extra.
venv_python="$(bash "$repo/scripts/setup_env.sh" tensorflow)"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
# The experiments are a package of this repository, found from any folder
# (relative paths in the arguments still mean the caller's folder).
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec "$venv_python" -m experiments.main_job "$@"
