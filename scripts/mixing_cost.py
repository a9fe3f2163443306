#!/usr/bin/env python
"""The train step's own mixing work, timed alone, per step.

`benchmark.py` compares whole training steps, where mixup's share (about
1-2% of a small CNN's step on a CPU) drowns in the machine's drift. This
script times only what `MixupModel.train_step` adds, in the graph (or XLA)
the step runs in: drawing lambda and partners, blending the inputs and
one-hot targets, and the whole mixing of a step, with the input blend as
plain TensorFlow ops or fused into one XLA function (what `MixupModel` does
in a step that is not XLA-compiled as a whole). Each runs 32 times inside a
compiled loop (as `steps_per_execution=32` does), interleaved with an empty
loop over rounds; the cost is the difference of medians per step.

Usage:
    python scripts/mixing_cost.py [--batch-sizes 64 512] [--rounds 30]
        [--out logs/benchmarks]
"""

import argparse
import json
import os
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from mixup_model import MixupModel  # noqa: E402
from mixup_model.mixing import blend  # noqa: E402

STEPS = 32


def parts(batch_size, image_shape=(28, 28, 1), num_classes=10):
    model = MixupModel(
        keras.Sequential([keras.Input(image_shape), keras.layers.Flatten()]),
        alpha=0.2,
        seed=0,
    )
    x = tf.random.uniform((batch_size,) + image_shape)
    y = tf.one_hot(tf.range(batch_size) % num_classes, num_classes)
    fixed = model.sample_mix_params(batch_size)

    # Every variant reduces all it computes (XLA drops what is not used), and
    # the empty loop reduces the same inputs, so differences are the mixing.
    def consume(images, targets):
        return tf.reduce_sum(images) + tf.reduce_sum(targets)

    def whole_step(fused=False):
        params = model.sample_mix_params(batch_size)
        return consume(blend(x, params, fused), blend(y, params))

    return {
        "empty": lambda: consume(x, y),
        "draw lambda and partners": lambda: consume(x, y)
        + tf.reduce_sum(model.sample_mix_params(batch_size).lam),
        "blend inputs": lambda: consume(blend(x, fixed), y),
        "blend one-hot targets": lambda: consume(x, blend(y, fixed)),
        "whole mixing of a step": whole_step,
        "whole, input blend fused": lambda: whole_step(fused=True),
    }


def looped(fn, jit):
    @tf.function(jit_compile=jit)
    def run():
        total = tf.constant(0.0)
        for _ in tf.range(STEPS):
            total += fn()
        return total

    return run


def measure(batch_size, jit, rounds):
    variants = parts(batch_size)
    if jit:  # already inside XLA: nothing to nest
        del variants["whole, input blend fused"]
    loops = {name: looped(fn, jit) for name, fn in variants.items()}
    for run in loops.values():
        run()  # trace and compile
    times = {name: [] for name in loops}
    for _ in range(rounds):
        for name, run in loops.items():
            start = time.perf_counter()
            run().numpy()
            times[name].append(time.perf_counter() - start)
    empty = np.median(times["empty"])
    return {
        name: round(1e6 * (np.median(t) - empty) / STEPS, 1)
        for name, t in times.items()
        if name != "empty"
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 512])
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--out", default=os.path.join(REPO, "logs", "benchmarks"))
    args = parser.parse_args(argv)
    rows = []
    for batch_size in args.batch_sizes:
        for jit in (False, True):
            micros = measure(batch_size, jit, args.rounds)
            rows.append({"batch_size": batch_size, "jit": jit, "microseconds_per_step": micros})
    names = list(rows[0]["microseconds_per_step"])
    print("| batch | XLA | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for row in rows:
        cells = [row["microseconds_per_step"].get(n) for n in names]
        print(
            f"| {row['batch_size']} | {'on' if row['jit'] else 'off'} | "
            + " | ".join("n/a" if c is None else f"{c:.1f} µs" for c in cells)
            + " |"
        )
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "mixing_cost.json")
    with open(path, "w") as f:
        json.dump({"steps_per_loop": STEPS, "rounds": args.rounds, "rows": rows}, f, indent=2)
    print(f"wrote {path}")
    return rows


if __name__ == "__main__":
    main()
