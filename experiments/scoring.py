"""The clean test set's scores after every epoch: accuracy, NLL and ECE."""

import keras
import numpy as np

from mixup_model import ExpectedCalibrationError


def score(probs, labels):
    """Accuracy, NLL and ECE (15 bins) of predicted probabilities.

    Args:
        probs: `(n, classes)` predicted probabilities.
        labels: `(n,)` class ids or `(n, classes)` one-hot labels.

    Returns:
        `{"accuracy": ..., "loss": ..., "ece": ...}` as Python floats; the
        loss is the mean negative log-likelihood, with probabilities clipped
        to 1e-7 as Keras's cross-entropy clips them.
    """
    probs = np.asarray(probs)
    ids = np.asarray(labels)
    if ids.ndim == 2:
        ids = ids.argmax(axis=1)
    ece = ExpectedCalibrationError()
    ece.update_state(ids, probs)
    true_probs = probs[np.arange(len(ids)), ids]
    return {
        "accuracy": float(np.mean(probs.argmax(axis=1) == ids)),
        "loss": float(-np.mean(np.log(np.clip(true_probs, 1e-7, 1.0)))),
        "ece": float(ece.result()),
    }


class ScoreEveryEpoch(keras.callbacks.Callback):
    """Scores `(x, y)` after every epoch and adds the scores to the epoch's
    logs as `test_accuracy`, `test_loss` and `test_ece`, so that a
    TensorBoard callback listed after it draws them as curves.

    Attributes:
        scores: One `score` dict per finished epoch.
        last_probs: The last epoch's predictions.
    """

    def __init__(self, x, y):
        super().__init__()
        self.x, self.y = x, y
        self.scores = []
        self.last_probs = None

    def on_epoch_end(self, epoch, logs=None):
        self.last_probs = self.model.predict(self.x, batch_size=1000, verbose=0)
        scores = score(self.last_probs, self.y)
        self.scores.append(scores)
        if logs is not None:
            logs.update({f"test_{name}": value for name, value in scores.items()})
