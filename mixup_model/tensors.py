"""Small tensor helpers that the mixing methods share."""

import keras
from keras import ops


def as_floating(x):
    """`x` as a tensor; integers and booleans cast to `keras.config.floatx()`
    (blending or smoothing them in integer arithmetic would truncate)."""
    x = ops.convert_to_tensor(x)
    if not is_float(x.dtype):
        x = ops.cast(x, keras.config.floatx())
    return x


def dtype_name(dtype):
    return keras.backend.standardize_dtype(dtype)


def is_float(dtype):
    return "float" in dtype_name(dtype)


def fit_rank(t, rank):
    """`t` with trailing axes of size 1 added up to `rank`."""
    while len(t.shape) < rank:
        t = ops.expand_dims(t, -1)
    return t


def same_dims(a, b):
    """Whether two static shapes agree, None matching any size."""
    return len(a) == len(b) and all(
        i is None or j is None or i == j for i, j in zip(a, b)
    )
