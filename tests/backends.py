"""The backend under test (KERAS_BACKEND), and how each one compiles.

The suite runs once per backend: `KERAS_BACKEND=jax bash scripts/test.sh`.
"""

import keras
from keras.src.backend import random_seed_dtype
import numpy as np
import pytest

BACKEND = keras.backend.backend()

# The compiled-step settings that each backend's users meet: TensorFlow's
# `tf.function` without and with XLA; JAX's `jax.jit` (Keras's default) and
# its eager mode; PyTorch's eager default and `torch.compile`.
JIT_COMPILE = {
    "tensorflow": [False, True],
    "jax": [True, False],
    "torch": [False, True],
}[BACKEND]
JIT_IDS = {
    "tensorflow": ["graph", "xla"],
    "jax": ["jit", "eager"],
    "torch": ["eager", "compile"],
}[BACKEND]
JIT = pytest.mark.parametrize("jit", JIT_COMPILE, ids=JIT_IDS)

tensorflow_only = pytest.mark.skipif(
    BACKEND != "tensorflow", reason="tf.distribute and TensorFlow graphs"
)


def once_in(backend):
    """For a test whose work does not depend on the suite's backend (it runs
    processes of its own, or reads files): the suite runs once per backend,
    and this test only in `backend`'s pass."""
    return pytest.mark.skipif(
        BACKEND != backend,
        reason=f"backend-independent: runs once, in the {backend} pass",
    )


def compiled(function, jit):
    """`function` as the backend compiles a train step with `jit_compile=jit`."""
    if BACKEND == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=jit)
    if BACKEND == "jax" and jit:
        import jax

        return jax.jit(function)
    if BACKEND == "torch" and jit:
        import torch

        return torch.compile(function)
    return function


def compile_with_inductor(function):
    """`torch.compile(function)` with Inductor, also where the suite runs
    dynamo's graphs alone (see conftest.py)."""
    import torch

    return getattr(torch.compile, "func", torch.compile)(function)


def seed(a, b):
    """A stateless seed of shape (2,) in the backend's seed dtype."""
    return keras.ops.convert_to_tensor(
        np.array([a, b]), dtype=random_seed_dtype()
    )


def numpy(x):
    return keras.ops.convert_to_numpy(x)


def as_in_step(function, jit):
    """`function` compiled so that it draws the numbers a train step with
    `jit_compile=jit` draws: on TensorFlow, XLA's random kernels draw other
    numbers than TensorFlow's for the same seed; JAX draws the same numbers
    with and without `jit`, and PyTorch draws eagerly."""
    if BACKEND == "tensorflow":
        return compiled(function, bool(jit))
    return function
