#!/usr/bin/env python
"""The keras.io "MixUp augmentation for image classification" experiment.

Trains the example's CNN on Fashion-MNIST twice from the same initial
weights, once as a `MixupModel` (mixup inside the train step) and once as
the baseline (`MixupModel` with alpha=0, which trains exactly like the plain
Keras model), then prints test accuracy and loss for both. With
`--keras-io-reference` a third arm runs the example's own pipeline.
Each run writes TensorBoard logs under `--log-dir` with
`MixupTensorBoard` (Keras's curves plus mean lambda, mixing strength, the
lambda histogram and captioned mixed inputs), so `tensorboard --logdir logs`
shows them side by side; each run's first batch is also saved as
`mixed_batch.png`. The results go to `<log-dir>/results.json`.

Recipe (unchanged from the example): alpha 0.2, batch 64, 10 epochs, Adam,
the first 2,000 training images held out for validation, one-hot labels with
categorical cross-entropy. Reported per arm: test accuracy, test loss (the
negative log-likelihood) and expected calibration error (15 bins).

Usage:
    python -m experiments.main_job [--epochs 10] [--alpha 0.2]
        [--seed 42] [--batch-size 64] [--log-dir logs/fashion_mnist]
        [--data-dir ../shared/datasets/fashion-mnist]
        [--backend tensorflow|jax|torch] [--input-pipeline tf.data|keras]
"""

import argparse
import json
import os
import shutil
import time

import keras
import numpy as np

from experiments.backend_choice import add_backend_argument
from experiments.backend_choice import check_backend
from experiments.fashion_mnist import CLASS_NAMES
from experiments.fashion_mnist import default_data_dir
from experiments.fashion_mnist import load_fashion_mnist
from experiments.models import build_cnn
from mixup_model import ExpectedCalibrationError
from mixup_model import MixupModel
from mixup_model import MixupTensorBoard

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VALIDATION_SIZE = 2000  # the keras.io example holds out the first 2,000


def load_data(data_dir, train_size=None):
    """Fashion-MNIST as float32 images in [0, 1] and one-hot labels."""
    (x_train, y_train), (x_test, y_test) = load_fashion_mnist(data_dir)

    def prepare(x, y):
        x = (x.astype("float32") / 255.0)[..., None]
        return x, keras.utils.to_categorical(y, 10).astype("float32")

    x_train, y_train = prepare(x_train, y_train)
    x_test, y_test = prepare(x_test, y_test)
    x_val, y_val = x_train[:VALIDATION_SIZE], y_train[:VALIDATION_SIZE]
    x_train, y_train = x_train[VALIDATION_SIZE:], y_train[VALIDATION_SIZE:]
    if train_size is not None:
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    return (x_train, y_train), (x_val, y_val), (x_test, y_test)


def train_dataset(x, y, batch_size, seed):
    """Shuffled batches from memory, prefetched to overlap the train step."""
    import tensorflow as tf

    return (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )


class EpochTimer(keras.callbacks.Callback):
    """Wall time of each epoch, validation included."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def train_arm(model, data, args, log_dir, keras_io_code=False):
    """Trains one arm; `keras_io_code` runs the keras.io example's own code."""
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = data
    if keras_io_code:
        # As published: Keras's default compile, the zipped-and-mapped
        # pipeline, validation batches of 64.
        import tensorflow as tf

        from experiments import keras_io_reference

        compile_options, fit_options = {}, {}
        train = keras_io_reference.mixup_dataset(
            x_train, y_train, args.batch_size, args.alpha
        )
        validation = tf.data.Dataset.from_tensor_slices((x_val, y_val)).batch(
            args.batch_size
        )
    else:
        compile_options = {
            "jit_compile": args.jit_compile,
            "steps_per_execution": steps_per_execution(args),
        }
        fit_options = {"validation_batch_size": 1000}
        validation = (x_val, y_val)
        if args.input_pipeline == "tf.data":
            train = train_dataset(x_train, y_train, args.batch_size, args.seed)
        else:  # Keras's own batching and shuffling: no TensorFlow needed
            train = (x_train, y_train)
            fit_options.update(batch_size=args.batch_size, shuffle=True)
    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss="categorical_crossentropy",
        metrics=["accuracy", ExpectedCalibrationError()],
        **compile_options,
    )
    shutil.rmtree(log_dir, ignore_errors=True)
    timer = EpochTimer()
    # The keras.io code mixes in tf.data, outside the model, where there are
    # no mixup statistics to log: Keras's own callback logs its curves.
    tensorboard = (
        keras.callbacks.TensorBoard(log_dir) if keras_io_code
        else MixupTensorBoard(log_dir, class_names=CLASS_NAMES)
    )
    if isinstance(train, tuple):
        train_arguments = train
    else:
        train_arguments = (train,)
        fit_options["shuffle"] = False  # the datasets shuffle every epoch
    model.fit(
        *train_arguments,
        validation_data=validation,
        epochs=args.epochs,
        callbacks=[timer, tensorboard],
        verbose=args.verbose,
        **fit_options,
    )
    test = model.evaluate(
        x_test, y_test, batch_size=1000, verbose=0, return_dict=True
    )
    probs = model.predict(x_test, batch_size=1000, verbose=0)
    # The first epoch includes tracing the step; report the steady state.
    steady = timer.seconds[1:] or timer.seconds
    return {
        "test_accuracy": float(test["accuracy"]),
        # Categorical cross-entropy on one-hot labels: the test NLL.
        "test_loss": float(test["loss"]),
        "test_ece": float(test["ece"]),
        # Below the accuracy: under-confident; above: over-confident.
        "test_mean_confidence": float(probs.max(axis=1).mean()),
        "seconds_per_epoch": float(np.mean(steady)),
        "epoch_seconds": [round(s, 3) for s in timer.seconds],
        "log_dir": log_dir,
    }


def run(args):
    keras.utils.set_random_seed(args.seed)
    data = load_data(args.data_dir, args.train_size)
    initial = build_cnn()
    initial_weights = initial.get_weights()

    def fresh_cnn():
        cnn = build_cnn()
        cnn.set_weights(initial_weights)
        return cnn

    results = {}
    arms = {
        "mixup": lambda: MixupModel(fresh_cnn(), alpha=args.alpha, seed=args.seed),
        # alpha=0 trains exactly like the plain model (tests check it bit for
        # bit) and logs the same summaries (lambda = 1) for a fair comparison.
        "baseline": lambda: MixupModel(fresh_cnn(), alpha=0.0),
    }
    if args.keras_io_reference:
        arms["keras.io"] = fresh_cnn
    for arm, make_model in arms.items():
        keras.utils.set_random_seed(args.seed)  # same dropout and data order
        mixes = arm != "baseline"
        run_name = (
            f"{arm.replace('.', '')}_alpha{args.alpha}_seed{args.seed}"
            if mixes
            else f"{arm}_seed{args.seed}"
        )
        results[arm] = train_arm(
            make_model(),
            data,
            args,
            os.path.join(args.log_dir, run_name),
            keras_io_code=arm == "keras.io",
        )
        print(
            f"{arm}: test accuracy {results[arm]['test_accuracy']:.4f}, "
            f"{results[arm]['seconds_per_epoch']:.1f} s/epoch",
            flush=True,
        )
    return results


def format_table(results, args):
    reference = results.get("keras.io", {}).get("seconds_per_epoch")
    lines = [
        f"Fashion-MNIST, keras.io CNN, alpha={args.alpha}, batch "
        f"{args.batch_size}, {args.epochs} epochs, seed {args.seed}, "
        f"Keras on {args.backend}",
        "| arm      | test accuracy | test loss (NLL) | test ECE | mean confidence | s/epoch |"
        + (" speed-up vs keras.io code |" if reference else ""),
        "|----------|---------------|-----------------|----------|-----------------|---------|"
        + ("---------------------------|" if reference else ""),
    ]
    for arm, r in results.items():
        row = (
            f"| {arm:<8} | {100 * r['test_accuracy']:12.2f}% | "
            f"{r['test_loss']:15.4f} | {r['test_ece']:8.4f} | "
            f"{100 * r['test_mean_confidence']:14.2f}% | "
            f"{r['seconds_per_epoch']:7.1f} |"
        )
        if reference:
            row += f" {reference / r['seconds_per_epoch']:24.2f}x |"
        lines.append(row)
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--log-dir", default=os.path.join(REPO, "logs", "fashion_mnist")
    )
    parser.add_argument(
        "--data-dir",
        default=default_data_dir(),
        help="folder with the four official Fashion-MNIST .gz files "
        "(default: ../shared/datasets/fashion-mnist when present, else "
        "Keras's cache)",
    )
    parser.add_argument(
        "--train-size",
        type=int,
        default=None,
        help="use only the first N training images (for quick checks)",
    )
    parser.add_argument(
        "--steps-per-execution",
        type=int,
        default=None,
        help="train steps per compiled call; amortizes Python overhead "
        "(default 32; 1 on PyTorch, the only value Keras supports there)",
    )
    add_backend_argument(parser)
    parser.add_argument(
        "--jit-compile",
        default="auto",
        type=lambda s: {"auto": "auto", "true": True, "false": False}[s.lower()],
        help="auto (Keras's default: XLA off on CPU), true or false",
    )
    parser.add_argument(
        "--keras-io-reference",
        action="store_true",
        help="also train with the keras.io example's own pipeline and "
        "settings (a third arm, for a side-by-side time per epoch)",
    )
    parser.add_argument(
        "--input-pipeline",
        choices=["tf.data", "keras"],
        default="tf.data",
        help="how the two MixupModel arms read their batches: tf.data "
        "(default; the recorded results) or Keras's own shuffling of the "
        "arrays, which needs no TensorFlow on JAX or PyTorch",
    )
    parser.add_argument("--verbose", type=int, default=2)
    args = parser.parse_args(argv)
    check_backend(parser, args)
    if args.keras_io_reference and args.input_pipeline != "tf.data":
        parser.error("--keras-io-reference runs the example's tf.data pipeline: "
                     "it needs --input-pipeline tf.data")
    return args


def steps_per_execution(args):
    if args.steps_per_execution is not None:
        return args.steps_per_execution
    return 1 if args.backend == "torch" else 32


def main(argv=None):
    args = parse_args(argv)
    results = run(args)
    table = format_table(results, args)
    print(table)
    os.makedirs(args.log_dir, exist_ok=True)
    with open(os.path.join(args.log_dir, "results.json"), "w") as f:
        json.dump({"args": vars(args), "results": results}, f, indent=2)
    return results


if __name__ == "__main__":
    main()
