#!/usr/bin/env python
"""What mixup costs per step on each Keras backend, side by side.

For each backend a fresh process (Keras picks its backend once, at import)
trains the keras.io CNN on synthetic Fashion-MNIST-shaped data as three
models with the same initial weights: `plain` (the CNN), `plain_aa` (an
identical second copy: the A/A control, whose ratio shows the noise) and
`mixup` (`MixupModel`, alpha 0.2 per example). Each block runs
`fit(steps_per_epoch=--steps)` once per model, in an order that rotates from
block to block, and the ratio to `plain` is taken within each block; the
report gives the median ratio over blocks and half its interquartile range.
The models compile as Keras compiles them by default on that backend
(`jit_compile="auto"`: `jax.jit` on JAX, no XLA on a CPU for TensorFlow,
eager PyTorch). Whole `fit` calls are timed, so their fixed cost (callbacks,
iterator) is in every variant alike: ratios lean towards 1 by that much,
less with more `--steps`.

Usage:
    python -m benchmarks.backends [--backends tensorflow jax torch]
        [--batch-sizes 64 512] [--blocks 15] [--steps 40] [--tag cpu]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from benchmarks.reports import format_ratio
from benchmarks.reports import host
from benchmarks.reports import write_json
from experiments.backend_choice import BACKENDS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VARIANTS = ("plain", "plain_aa", "mixup")


def _ratio_summary(ratios):
    q1, median, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return {"ratio": median, "ratio_iqr": [q1, q3]}


def bench_backend(batch_sizes, blocks, steps):
    """Runs in the child process, on the backend Keras was imported with."""
    import keras
    import numpy as np

    from experiments.models import build_cnn
    from mixup_model import MixupModel

    rows = []
    for batch_size in batch_sizes:
        keras.utils.set_random_seed(0)
        rng = np.random.default_rng(0)
        n = batch_size * steps
        x = rng.random((n, 28, 28, 1), dtype=np.float32)
        y = keras.utils.to_categorical(rng.integers(0, 10, n), 10)
        initial = build_cnn().get_weights()

        def cnn():
            model = build_cnn()
            model.set_weights(initial)
            return model

        models = {
            "plain": cnn(),
            "plain_aa": cnn(),
            "mixup": MixupModel(cnn(), alpha=0.2, seed=0),
        }
        for model in models.values():
            model.compile("adam", "categorical_crossentropy")
        fit = dict(batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
        for model in models.values():  # warm-up: tracing and compilation
            model.fit(x, y, **fit)
        seconds = {name: [] for name in VARIANTS}
        for block in range(blocks):
            order = VARIANTS[block % 3 :] + VARIANTS[: block % 3]
            for name in order:
                start = time.perf_counter()
                models[name].fit(x, y, **fit)
                seconds[name].append(time.perf_counter() - start)
        results = {}
        for name in VARIANTS:
            ratios = [s / p for s, p in zip(seconds[name], seconds["plain"])]
            results[name] = {
                "ms_per_step": 1000 * statistics.median(seconds[name]) / steps,
                **_ratio_summary(ratios),
            }
        rows.append({
            "batch_size": batch_size,
            "jit_compile": str(models["mixup"].jit_compile),
            "results": results,
        })
    return {
        "backend": keras.backend.backend(),
        "versions": _versions(keras.backend.backend()),
        "rows": rows,
    }


def _versions(backend):
    import keras

    versions = {"keras": keras.__version__}
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend]
    versions[module] = __import__(module).__version__
    return versions


def run_backend(backend, args):
    """One backend in a process of its own; returns its report."""
    command = [
        sys.executable, "-m", "benchmarks.backends", "--child",
        "--batch-sizes", *map(str, args.batch_sizes),
        "--blocks", str(args.blocks), "--steps", str(args.steps),
    ]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, cwd=REPO
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"the {backend} benchmark failed:\n{result.stderr[-3000:]}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def format_table(reports):
    lines = [
        "| backend | jit_compile | batch | plain ms/step | A/A control | mixup ÷ plain |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for report in reports:
        for row in report["rows"]:
            r = row["results"]
            cells = [
                report["backend"], row["jit_compile"], str(row["batch_size"]),
                f"{r['plain']['ms_per_step']:.2f}",
                format_ratio(r["plain_aa"], "ratio"),
                format_ratio(r["mixup"], "ratio"),
            ]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS,
                        default=["tensorflow", "jax"])
    parser.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 512])
    parser.add_argument("--blocks", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40,
                        help="train steps per timed fit call")
    parser.add_argument("--out", default=os.path.join(REPO, "docs"))
    parser.add_argument("--tag", default=None,
                        help="write <out>/backend_benchmark_<tag>.json")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings, for a smoke test")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.blocks < 2 or args.steps < 1:
        parser.error("--blocks must be at least 2 and --steps at least 1")
    if args.quick:
        args.batch_sizes, args.blocks, args.steps = [8], 2, 2
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        print(json.dumps(bench_backend(args.batch_sizes, args.blocks, args.steps)))
        return None
    reports = [run_backend(backend, args) for backend in args.backends]
    report = {
        "machine": host(),
        "settings": {"blocks": args.blocks, "steps": args.steps},
        "backends": reports,
    }
    print(format_table(reports))
    if args.tag:
        write_json(report, args.out, f"backend_benchmark_{args.tag}.json")
    return report


if __name__ == "__main__":
    main()
