"""What mixup costs as devices are added, under `keras.distribution` (JAX).

For each device count (virtual CPU devices by default, set with
`--xla_force_host_platform_device_count` in a process of its own per count;
`--real-devices` uses the first N devices of an accelerator machine), the
keras.io CNN trains under `keras.distribution.DataParallel` with a global
batch of `--per-device-batch` examples per device, as the plain model and
as a `MixupModel` (alpha = 0.2). Reported per device count:

- the step time of each, timed interleaved (`benchmarks.step_timing`), and
  mixup / plain: the median of the blockwise ratios and their interquartile
  range;
- the collectives of each compiled train step (all-gather, all-reduce,
  all-to-all, collective-permute, reduce-scatter) and the bytes their
  results hold;
- the per-device memory of each compiled step (`memory_analysis()`:
  arguments, outputs and temporaries).

The JSON goes to `<out>/scaling_<tag>.json`; `python -m tools.make_docs`
makes docs/performance.md's table from it.

Usage:
    python -m benchmarks.scaling [--devices 1 2 4 8] [--per-device-batch 32]
        [--blocks 8] [--seconds 2] [--real-devices] [--out docs] [--tag cpu]
"""

import argparse
import json
import math
import os
import re
import subprocess
import sys
import time

from benchmarks.reports import format_ratio
from benchmarks.reports import host
from benchmarks.reports import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COLLECTIVES = (
    "all-gather", "all-reduce", "all-to-all", "collective-permute", "reduce-scatter",
)
_BYTES = {
    "pred": 1, "s8": 1, "u8": 1, "s16": 2, "u16": 2, "f16": 2, "bf16": 2,
    "s32": 4, "u32": 4, "f32": 4, "s64": 8, "u64": 8, "f64": 8, "c64": 8,
}
_INSTRUCTION = re.compile(
    r"=\s*(?P<shape>.*?)\s(?P<op>" + "|".join(COLLECTIVES) + r")(?:-start)?\("
)
_ARRAY = re.compile(r"\b(?P<dtype>[a-z]+\d*)\[(?P<dims>[\d,]*)\]")


def collectives_of(hlo_text):
    """`{op: {"count": n, "bytes": b}}` of the collectives in compiled HLO
    text; bytes are those of each collective's result (per device)."""
    found = {op: {"count": 0, "bytes": 0} for op in COLLECTIVES}
    for line in hlo_text.splitlines():
        match = _INSTRUCTION.search(line)
        if match is None:
            continue
        entry = found[match["op"]]
        entry["count"] += 1
        for array in _ARRAY.finditer(match["shape"]):
            dims = [int(d) for d in array["dims"].split(",") if d]
            entry["bytes"] += math.prod(dims) * _BYTES.get(array["dtype"], 4)
    return found


def compiled_train_step(model, x, y):
    """The compiled train step of `model` (compiled with SGD and a sparse
    loss where it is not yet compiled) for a global batch `(x, y)` laid out
    as the current `keras.distribution` lays out data."""
    import jax
    import keras

    if not model.compiled:
        model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=len(x), epochs=1, verbose=0)  # builds the state
    state = model._get_jax_state(
        trainable_variables=True, non_trainable_variables=True,
        optimizer_variables=True, metrics_variables=True,
    )
    distribution = keras.distribution.distribution()
    data = tuple(
        jax.device_put(a, distribution.get_data_layout(a.shape).backend_layout)
        for a in (x, y)
    )
    return jax.jit(model.train_step).lower(state, data).compile()


def _memory(compiled):
    analysis = compiled.memory_analysis()
    fields = ("argument_size_in_bytes", "output_size_in_bytes",
              "temp_size_in_bytes", "alias_size_in_bytes")
    return {field: int(getattr(analysis, field, 0) or 0) for field in fields}


def bench_devices(per_device_batch, blocks, seconds, steps, real_devices):
    """Runs in the child process: one device count, both variants."""
    import jax
    import keras
    import numpy as np

    from benchmarks.step_timing import Stepper
    from benchmarks.step_timing import interleave
    from benchmarks.step_timing import summarize
    from experiments.models import build_cnn
    from mixup_model import MixupModel

    devices = jax.devices()
    if real_devices is not None:
        devices = devices[:real_devices]
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    batch = per_device_batch * len(devices)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((batch * steps, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch * steps)
    initial = build_cnn().get_weights()

    def cnn():
        model = build_cnn()
        model.set_weights(initial)
        return model

    models = {"plain": cnn(), "mixup": MixupModel(cnn(), alpha=0.2, seed=0)}
    result = {"devices": len(devices), "global_batch": batch, "variants": {}}
    for name, model in models.items():
        model.compile("adam", "sparse_categorical_crossentropy", steps_per_execution=1)
        compiled = compiled_train_step(model, x[:batch], y[:batch])
        result["variants"][name] = {
            "collectives": collectives_of(compiled.as_text()),
            "memory": _memory(compiled),
        }
    sharding = distribution.get_data_layout((batch, 28, 28, 1)).backend_layout
    labels = distribution.get_data_layout((batch,)).backend_layout
    batches = [
        (jax.device_put(x[i : i + batch], sharding), jax.device_put(y[i : i + batch], labels))
        for i in range(0, len(x), batch)
    ]
    steppers = {name: [Stepper(model, batches)] for name, model in models.items()}
    times, rounds = interleave(steppers, blocks=blocks, seconds=seconds, warmup=2)
    timing = summarize(times, batch, steps_per_block=rounds)
    for name in models:
        result["variants"][name]["ms_per_step"] = timing[name]["ms_per_step"]
    result["mixup_vs_plain"] = timing["mixup"]["ratio_vs_plain"]
    result["mixup_vs_plain_iqr"] = timing["mixup"]["ratio_vs_plain_iqr"]
    result["versions"] = {"keras": keras.__version__, "jax": jax.__version__}
    result["platform"] = devices[0].platform
    return result


def run_devices(count, args):
    """One device count in a process of its own; returns its report."""
    command = [
        sys.executable, "-m", "benchmarks.scaling", "--child", str(count),
        "--per-device-batch", str(args.per_device_batch),
        "--blocks", str(args.blocks), "--seconds", str(args.seconds),
        "--steps", str(args.steps),
    ] + (["--real-devices"] if args.real_devices else [])
    env = dict(os.environ, KERAS_BACKEND="jax")
    if not args.real_devices:
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={count}"
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"{count} devices failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def added_collectives(row):
    """Collectives (and bytes) the mixed step has beyond the plain step's."""
    plain = row["variants"]["plain"]["collectives"]
    mixup = row["variants"]["mixup"]["collectives"]
    return {
        "count": sum(mixup[op]["count"] - plain[op]["count"] for op in COLLECTIVES),
        "bytes": sum(mixup[op]["bytes"] - plain[op]["bytes"] for op in COLLECTIVES),
    }


def memory_bytes(variant):
    memory = variant["memory"]
    return (memory["argument_size_in_bytes"] + memory["output_size_in_bytes"]
            + memory["temp_size_in_bytes"] - memory["alias_size_in_bytes"])


def format_table(rows):
    lines = [
        "| devices | global batch | plain ms/step | mixup ÷ plain | collectives (plain) | collectives added by mixup | bytes added | memory per device: plain | mixup |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        plain = row["variants"]["plain"]
        counts = ", ".join(
            f"{entry['count']} {op}" for op, entry in plain["collectives"].items()
            if entry["count"]
        ) or "none"
        added = added_collectives(row)
        lines.append(
            f"| {row['devices']} | {row['global_batch']} | {plain['ms_per_step']:.1f} "
            f"| {format_ratio(row, 'mixup_vs_plain')} | {counts} "
            f"| {added['count']} | {added['bytes']} "
            f"| {memory_bytes(plain) / 2**20:.2f} MiB "
            f"| {memory_bytes(row['variants']['mixup']) / 2**20:.2f} MiB |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--per-device-batch", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=2.0,
                        help="about how long one timing block takes")
    parser.add_argument("--steps", type=int, default=4,
                        help="distinct batches the steps take in turn")
    parser.add_argument("--real-devices", action="store_true",
                        help="the machine's own devices, not virtual CPU ones")
    parser.add_argument("--out", default=os.path.join(REPO, "logs"))
    parser.add_argument("--tag", default="cpu")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.blocks < 2:
        parser.error("--blocks must be at least 2")
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child is not None:
        print(json.dumps(bench_devices(
            args.per_device_batch, args.blocks, args.seconds, args.steps,
            args.child if args.real_devices else None,
        )))
        return None
    start = time.perf_counter()
    rows = [run_devices(count, args) for count in args.devices]
    report = {
        "host": host(), "per_device_batch": args.per_device_batch, "rows": rows,
        "seconds": round(time.perf_counter() - start, 1),
    }
    path = write_json(report, args.out, f"scaling_{args.tag}.json")
    print(format_table(rows))
    print(f"wrote {path}")
    return report


if __name__ == "__main__":
    main()
