"""What mixup costs per training step, measured against the same model
without it, run as `python -m benchmarks.<name>` from the repository root:
`step_cost` (one backend, every variant), `backends` (TensorFlow, JAX and
PyTorch side by side), `gpu` (ResNet-50 against timm on a GPU) and
`scaling` (1 to 8 devices under `keras.distribution`).

As in `experiments`, a `--backend` on the `python -m benchmarks.<name>`
command line is applied when this package is imported, before Keras is.
"""

import os
import sys

from experiments.backend_choice import select_backend

if sys.argv[:1] == ["-m"]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    select_backend(sys.argv[1:])
