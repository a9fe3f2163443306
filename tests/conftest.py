import atexit
import os
import shutil
import tempfile

# Before Keras is imported anywhere: quiet TensorFlow, and give the suite its
# own Keras home so that it never reads or writes the user's ~/.keras
# (removed when the run ends).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["KERAS_HOME"] = tempfile.mkdtemp(prefix="mixup_model_keras_home_")
atexit.register(shutil.rmtree, os.environ["KERAS_HOME"], ignore_errors=True)
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

if os.environ["KERAS_BACKEND"] == "torch" and not os.environ.get("MIXUP_TEST_INDUCTOR"):
    # `jit_compile=True` on PyTorch runs dynamo's graphs as traced: the same
    # graphs and graph breaks, without Inductor's code generation, which
    # takes a minute or more per model on a CPU. The tests that compare
    # Inductor's code with eager PyTorch use
    # `tests.backends.compile_with_inductor`; MIXUP_TEST_INDUCTOR=1 runs the
    # whole suite with Inductor.
    import functools

    import torch

    torch.compile = functools.partial(torch.compile, backend="eager")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import pytest  # noqa: E402

DATA_DIR = os.environ.get(
    "MIXUP_FASHION_MNIST_DIR",
    os.path.join(os.path.dirname(REPO), "shared", "datasets", "fashion-mnist"),
)


@pytest.fixture(scope="session")
def data_dir():
    """The folder of the four Fashion-MNIST files (skips where they are
    missing, except in CI, which has them)."""
    if not os.path.isdir(DATA_DIR):
        message = (
            f"Fashion-MNIST files not found in {DATA_DIR}; set "
            "MIXUP_FASHION_MNIST_DIR to the folder with the four .gz files"
        )
        if os.environ.get("CI"):
            pytest.fail(message)  # CI has them: never skip there
        pytest.skip(message)
    return DATA_DIR
