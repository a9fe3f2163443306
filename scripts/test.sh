#!/usr/bin/env bash
# The test command: sets up .venv and runs the whole suite.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_python="$(bash "$repo/scripts/setup_env.sh" test)"
cd "$repo"
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$venv_python" -m pytest "$@"
