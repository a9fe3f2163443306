"""The models that the experiments and benchmarks train (Keras only: no
TensorFlow import, so that they build on every backend and on machines
without TensorFlow)."""

import keras


def _convolutions():
    """The keras.io CNN's two convolution and pooling stages."""
    layers = keras.layers
    return [
        keras.Input(shape=(28, 28, 1)),
        layers.Conv2D(16, (5, 5), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(32, (5, 5), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
    ]


def build_cnn():
    """The keras.io example's CNN, unchanged."""
    layers = keras.layers
    return keras.Sequential(
        _convolutions()
        + [
            layers.Dropout(0.2),
            layers.GlobalAveragePooling2D(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )


def build_flatten_cnn():
    """The keras.io CNN with room to overfit: its two convolutions feed a
    `Flatten` (512 features) instead of global average pooling (32), and
    it has no dropout; 80k parameters instead of 19k."""
    layers = keras.layers
    return keras.Sequential(
        _convolutions()
        + [
            layers.Flatten(),
            layers.Dense(128, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
