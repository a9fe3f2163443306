"""Tiny models and data for fast tests."""

import keras
import numpy as np

NUM_CLASSES = 3


def dense_classifier(input_shape=(6,), num_classes=NUM_CLASSES, seed=0):
    """A seeded linear softmax classifier over inputs of any rank."""
    return keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(
                num_classes,
                activation="softmax",
                kernel_initializer=keras.initializers.GlorotUniform(seed),
            ),
        ]
    )


def classification_data(n=32, input_shape=(6,), num_classes=NUM_CLASSES, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n,) + input_shape).astype("float32")
    y = rng.integers(0, num_classes, size=n)
    return x, y


def one_hot(y, num_classes=NUM_CLASSES):
    return np.eye(num_classes, dtype="float32")[y]


def assert_weights_equal(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights(), strict=True):
        np.testing.assert_array_equal(wa, wb)
