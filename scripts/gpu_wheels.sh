#!/usr/bin/env bash
# Downloads, into .whl/ (ignored by git), the wheels that benchmarks/gpu.py
# needs on a GPU machine that has JAX, PyTorch and timm but not Keras: Keras
# and the packages it needs that such a machine lacks, built for Python 3.12
# on x86-64 Linux (override with PYTHON_VERSION). Install them there with
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
#   export PYTHONPATH=/tmp/site
set -euo pipefail
cd "$(dirname "$0")/.."
python_version="${PYTHON_VERSION:-3.12}"
keras_version="$(python -c 'import keras; print(keras.__version__)' 2>/dev/null || echo 3.15.1)"
mkdir -p .whl
platforms=()
for tag in manylinux_2_28 manylinux_2_27 manylinux_2_17 manylinux2014 manylinux1; do
  platforms+=(--platform "${tag}_x86_64")
done
python -m pip download -q --no-deps --only-binary=:all: \
  --python-version "$python_version" --implementation cp "${platforms[@]}" \
  -d .whl "keras==$keras_version" namex optree
ls .whl
