"""The Fashion-MNIST experiments behind docs/results.md, each run as
`python -m experiments.<name>` from the repository root: `main_job` (the
keras.io experiment), `seeds`, `label_noise`, `long_schedule`, and
`fashion_mnist` (the offline, MD5-verified data).

Keras reads `KERAS_BACKEND` once, when it is first imported. Python imports
this package before it runs `experiments.<name>`, with `sys.argv[0]` still
`"-m"`, so a `--backend` on that command line is applied here, before any
experiment imports Keras.
"""

import os
import sys

from experiments.backend_choice import select_backend

if sys.argv[:1] == ["-m"]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    select_backend(sys.argv[1:])
