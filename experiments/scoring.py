"""The clean test set's scores after every epoch: accuracy, NLL and ECE."""

import time

import keras
import numpy as np

from experiments import main_job as job
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


def fit_and_score(model, loss, data, args, validation_batch_size, callbacks=()):
    """Trains one arm of an experiment, scoring the test set every epoch.

    Compiles `model` as the experiments train (Adam, `loss`, accuracy, 32
    steps per compiled call, 1 on PyTorch where Keras allows no more) and
    fits it for `args.epochs` on batches of `args.batch_size` shuffled with
    `args.seed`, validating on `data`'s validation split.

    Args:
        model: The `MixupModel` to train.
        loss: The compiled loss.
        data: `(train, validation, test)` pairs `(x, y)`.
        args: The experiment's options (`epochs`, `batch_size`, `seed`,
            `verbose`).
        validation_batch_size: Batch size of the validation pass.
        callbacks: More callbacks, after the scoring one (so that a
            TensorBoard callback among them draws the test scores).

    Returns:
        `(history, scorer, seconds)`: Keras's `History`, the
        `ScoreEveryEpoch` callback with every epoch's scores, and the wall
        time of `fit`.
    """
    (x_train, y_train), validation, test = data
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=loss,
        metrics=["accuracy"],
        steps_per_execution=1 if keras.backend.backend() == "torch" else 32,
    )
    scorer = ScoreEveryEpoch(*test)
    start = time.perf_counter()
    history = model.fit(
        job.train_dataset(x_train, y_train, args.batch_size, args.seed),
        validation_data=validation,
        validation_batch_size=validation_batch_size,
        shuffle=False,  # the dataset shuffles itself every epoch
        epochs=args.epochs,
        callbacks=[scorer, *callbacks],
        verbose=args.verbose,
    )
    return history, scorer, time.perf_counter() - start
