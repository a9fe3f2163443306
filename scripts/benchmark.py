#!/usr/bin/env python
"""What does mixup cost per training step? Interleaved, paired timings.

Variants, each a full `model.fit` training step with its own input pipeline:
  plain     (a) the plain Keras model, no mixup: the floor
  mixup     (b) `MixupModel`, default settings (one lambda per sample)
  mixup_pb  (b) `MixupModel(lambda_mode="per_batch")`
  mixup_ktb (b) `MixupModel` with Keras's own `keras.callbacks.TensorBoard`
  mixup_tb  (b) `MixupModel` with `MixupTensorBoard`: the logging cost is
                reported as mixup_tb / mixup_ktb
  kerasio   (c) the keras.io example's pipeline: two shuffled copies of the
                data zipped in tf.data and mixed in `map`
  kl_mixup  (d) `keras.layers.MixUp` applied in a tf.data `map`

After warm-up (tracing, compiling) the variants run in rounds, A B C D A B
C D ..., each timing about `--seconds` of steps; a step's time is the median interval
between consecutive `on_train_batch_end` calls. Ratios against (a) are taken
pair by pair within a round, then the median over rounds, which cancels the
machine's drift. Results: a table on stdout and JSON under `--out`.

Usage:
    python scripts/benchmark.py [--quick] [--models cnn resnet]
        [--batch-sizes 64 512] [--jit false true] [--sweep 32 64 ... 1024]
        [--steps-per-execution 1] [--rounds 7] [--tag cpu]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mixup_model import MixupModel  # noqa: E402
from mixup_model import MixupTensorBoard  # noqa: E402
import keras_io_reference  # noqa: E402
from train_fashion_mnist import build_cnn  # noqa: E402

NUM_CLASSES = 10
ALPHA = 0.2


def build_resnet(input_shape=(32, 32, 3)):
    """A small ResNet (three stages of one basic block, 16/32/64 filters)."""
    layers = keras.layers

    def conv_bn(x, filters, strides=1, activation=True):
        x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU()(x) if activation else x

    inputs = keras.Input(input_shape)
    x = conv_bn(inputs, 16)
    for filters, strides in [(16, 1), (32, 2), (64, 2)]:
        shortcut = x
        y = conv_bn(x, filters, strides)
        y = conv_bn(y, filters, activation=False)
        if strides != 1 or shortcut.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(shortcut)
            shortcut = layers.BatchNormalization()(shortcut)
        x = layers.ReLU()(layers.Add()([y, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(x)
    return keras.Model(inputs, outputs)


MODELS = {
    "cnn": (build_cnn, (28, 28, 1)),
    "resnet": (build_resnet, (32, 32, 3)),
}


def make_pipelines(x, y, batch_size, seed=0):
    """The input pipeline of each variant, over the same in-memory data."""
    n = len(x)

    def shuffled(s):
        return (
            tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(n, seed=s, reshuffle_each_iteration=True)
            .repeat()
        )

    def batched(ds):
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    keras_mixup = keras.layers.MixUp(alpha=ALPHA, seed=seed)

    def keras_layer_map(images, labels):
        out = keras_mixup({"images": images, "labels": labels})
        return out["images"], out["labels"]

    plain = batched(shuffled(seed))
    return {
        "plain": plain,
        "mixup": plain,
        "mixup_pb": plain,
        "mixup_tb": plain,
        "mixup_ktb": plain,
        "kerasio": keras_io_reference.mixup_dataset(
            x, y, batch_size, ALPHA, shuffle_buffer=n, repeat=True
        ).prefetch(tf.data.AUTOTUNE),
        "kl_mixup": shuffled(seed).batch(batch_size).map(keras_layer_map, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE),
    }


def make_models(build, initial_weights):
    def fresh():
        model = build()
        model.set_weights(initial_weights)
        return model

    return {
        "plain": fresh(),
        "mixup": MixupModel(fresh(), alpha=ALPHA, seed=0),
        "mixup_pb": MixupModel(fresh(), alpha=ALPHA, lambda_mode="per_batch", seed=0),
        "mixup_tb": MixupModel(fresh(), alpha=ALPHA, seed=0),
        "mixup_ktb": MixupModel(fresh(), alpha=ALPHA, seed=0),
        "kerasio": fresh(),
        "kl_mixup": fresh(),
    }


class StepClock(keras.callbacks.Callback):
    """Median interval between consecutive train batches, per step.

    With `steps_per_execution=k`, Keras calls the batch hooks once per k
    steps; the interval is divided by k.
    """

    def __init__(self, steps_per_execution=1):
        super().__init__()
        self.steps_per_execution = steps_per_execution

    def on_train_begin(self, logs=None):
        self.stamps = []

    def on_train_batch_end(self, batch, logs=None):
        self.stamps.append(time.perf_counter())

    def median_step(self):
        return float(np.median(np.diff(self.stamps))) / self.steps_per_execution


def _whole_executions(steps, steps_per_execution, minimum_executions=3):
    executions = max(-(-steps // steps_per_execution), minimum_executions)
    return executions * steps_per_execution


def bench_config(model_name, batch_size, jit, variants, rounds, seconds, warmup,
                 log_dir, steps_per_execution=1):
    build, input_shape = MODELS[model_name]
    rng = np.random.default_rng(0)
    n = batch_size * 8
    x = rng.random((n,) + input_shape, dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype="float32")[rng.integers(0, NUM_CLASSES, n)]
    keras.utils.set_random_seed(0)
    initial = build().get_weights()
    models = make_models(build, initial)
    pipelines = make_pipelines(x, y, batch_size)

    # One callback per variant for all rounds, as one long run would have.
    tensorboards = {
        "mixup_tb": MixupTensorBoard(os.path.join(log_dir, "tb", model_name)),
        "mixup_ktb": keras.callbacks.TensorBoard(os.path.join(log_dir, "ktb", model_name)),
    }

    def callbacks(name, clock=None):
        extra = [clock] if clock else []
        if name in tensorboards:
            extra.append(tensorboards[name])
        return extra

    spe = steps_per_execution
    warm_clock = StepClock(spe)
    for name in variants:
        models[name].compile(
            optimizer="adam", loss="categorical_crossentropy", jit_compile=jit,
            steps_per_execution=spe,
        )
        clock = warm_clock if name == "plain" else None
        models[name].fit(pipelines[name], steps_per_epoch=_whole_executions(warmup, spe),
                         epochs=1, verbose=0, shuffle=False,
                         callbacks=callbacks(name, clock))
        assert models[name].jit_compile == jit, (name, models[name].jit_compile)
    # Enough steps for about `seconds` per measurement.
    steps = _whole_executions(
        int(np.clip(seconds / warm_clock.median_step(), 5, 60)), spe
    )
    times = {name: [] for name in variants}
    for r in range(rounds):
        # Rotate the order so that no variant always runs first.
        order = variants[r % len(variants):] + variants[: r % len(variants)]
        for name in order:
            clock = StepClock(spe)
            models[name].fit(
                pipelines[name], steps_per_epoch=steps, epochs=1, verbose=0,
                shuffle=False, callbacks=callbacks(name, clock),
            )
            times[name].append(clock.median_step())
    result = {}
    for name in variants:
        step = statistics.median(times[name])
        result[name] = {
            "ms_per_step": 1000 * step,
            "images_per_s": batch_size / step,
            "steps_per_measurement": steps,
            "ms_per_step_rounds": [round(1000 * t, 3) for t in times[name]],
        }
        for floor in ("plain", "mixup", "mixup_ktb"):
            if floor in times:
                ratios = [t / f for t, f in zip(times[name], times[floor])]
                result[name][f"ratio_vs_{floor}"] = statistics.median(ratios)
    return result


def describe_machine():
    gpus = tf.config.list_physical_devices("GPU")
    gpu_names = [
        tf.config.experimental.get_device_details(g).get("device_name", g.name)
        for g in gpus
    ]
    return {
        "cpu_cores": os.cpu_count(),
        "gpus": gpu_names,
        "platform": platform.platform(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
    }


def format_table(rows, variants):
    head = "| model | batch | XLA | " + " | ".join(
        f"{v} ms (×plain)" for v in variants
    ) + " |"
    lines = [head, "|" + "---|" * (3 + len(variants))]
    for row in rows:
        cells = [
            f"{row['results'][v]['ms_per_step']:.2f} ({row['results'][v]['ratio_vs_plain']:.3f})"
            for v in variants
        ]
        lines.append(
            f"| {row['model']} | {row['batch_size']} | {'on' if row['jit'] else 'off'} | "
            + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["cnn", "resnet"], choices=sorted(MODELS))
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 512])
    p.add_argument("--jit", nargs="+", default=["false", "true"], choices=["false", "true"])
    p.add_argument("--variants", nargs="+", default=["plain", "mixup", "mixup_pb", "mixup_ktb", "mixup_tb", "kerasio", "kl_mixup"])
    p.add_argument("--sweep", nargs="*", type=int, default=[32, 64, 128, 256, 512, 1024],
                   help="batch sizes for the (b)/(a) sweep on the CNN without XLA")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--seconds", type=float, default=0.6, help="target time per measurement")
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--out", default=os.path.join(REPO, "logs", "benchmarks"))
    p.add_argument("--tag", default="cpu", help="name of the JSON file")
    p.add_argument("--steps-per-execution", type=int, default=1,
                   help="train steps per compiled call (Keras's compile option); "
                   "more steps per call take Python's per-step overhead, and "
                   "its jitter, out of the timings")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    args = p.parse_args(argv)
    if "plain" not in args.variants:
        args.variants.insert(0, "plain")
    if args.quick:
        args.models, args.batch_sizes, args.sweep = ["cnn"], [8], [4, 8]
        args.rounds, args.seconds, args.warmup = 2, 0.01, 2
    return args


def main(argv=None):
    args = parse_args(argv)
    rows = []
    for model_name in args.models:
        for batch_size in args.batch_sizes:
            for jit in [j == "true" for j in args.jit]:
                results = bench_config(model_name, batch_size, jit, args.variants,
                                       args.rounds, args.seconds, args.warmup, args.out,
                                       args.steps_per_execution)
                rows.append({"model": model_name, "batch_size": batch_size, "jit": jit, "results": results})
                print(format_table(rows[-1:], args.variants).splitlines()[-1], flush=True)
    sweep = []
    for batch_size in args.sweep:
        results = bench_config("cnn", batch_size, False, ["plain", "mixup"],
                               args.rounds, args.seconds, args.warmup, args.out,
                               args.steps_per_execution)
        sweep.append({"batch_size": batch_size, "ratio_vs_plain": results["mixup"]["ratio_vs_plain"],
                      "ms_per_step": results["mixup"]["ms_per_step"]})
        print(f"sweep batch {batch_size}: mixup/plain {sweep[-1]['ratio_vs_plain']:.3f}", flush=True)
    report = {"machine": describe_machine(), "args": vars(args), "rows": rows, "sweep": sweep}
    print()
    print(format_table(rows, args.variants))
    if {"mixup_tb", "mixup_ktb"} <= set(args.variants):
        print("\nMixupTensorBoard's cost over keras.callbacks.TensorBoard, "
              "mixup_tb/mixup_ktb: " + ", ".join(
                  f"{r['model']}/{r['batch_size']}/{'xla' if r['jit'] else 'graph'} "
                  f"{r['results']['mixup_tb']['ratio_vs_mixup_ktb']:.3f}" for r in rows))
    if sweep:
        print("\n| batch | " + " | ".join(str(s["batch_size"]) for s in sweep) + " |")
        print("|---|" + "---|" * len(sweep))
        print("| mixup/plain (CNN, no XLA) | " + " | ".join(f"{s['ratio_vs_plain']:.3f}" for s in sweep) + " |")
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"benchmark_{args.tag}.json")
    with open(path, "w") as f:
        json.dump(report, f, indent=2)
    print(f"\nwrote {path}")
    return report


if __name__ == "__main__":
    main()
