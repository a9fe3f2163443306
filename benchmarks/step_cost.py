#!/usr/bin/env python
"""What does mixup cost per training step? Interleaved, paired timings.

Variants, each a compiled Keras train step fed by its own input pipeline:
  plain     (a) the plain Keras model, no mixup: the floor
  plain_aa  (a) again, a second copy: the A/A control, whose ratio to (a)
                shows how far two identical variants differ in this method
  mixup     (b) `MixupModel`, default settings (one lambda per sample)
  mixup_pb  (b) `MixupModel(lambda_mode="per_batch")`
  mixup_fixed (b) with a fixed lambda (0.7) and fixed partners (the batch
                reversed) instead of drawn ones: what blending inputs and
                targets costs without sampling (an ablation: mixup minus
                mixup_fixed is what the sampling costs)
  mixup_tb  (b) `MixupModel` recording the statistics that `MixupTensorBoard`
                logs (computed in the step; the per-epoch writes are not
                per-step cost): the logging cost is mixup_tb / mixup
  kerasio   (c) the keras.io example's pipeline: two shuffled copies of the
                data zipped in tf.data and mixed in `map`
  kl_mixup  (d) `keras.layers.MixUp` applied in a tf.data `map`

Diagnostics of the sampling's cost (only when named in `--variants`):
  mixup_late  draws as mixup does but blends with mixup_fixed's parameters;
                the drawn ones reach only the loss, with weight 0, so the
                forward pass never waits for the draw
  mixup_uniform  the cheapest draw of a lambda per example and partners: one
                uniform draw for both (lambda then has the wrong law): a lower
                bound for any sampler
  mixup_xla_draw  mixup's draw in a nested XLA function (`jit_compile=True`)
                inside the step: one launch in place of its ops

The mixing family (only when named in `--variants`; every backend):
  cutmix    (b) `MixupModel(cutmix_alpha=1.0)` with mixup: each batch is
                mixup or CutMix (switch_prob 0.5), one of them computed
  cutmix_elem (b) the same with `mode="elem"`: each example chooses, so the
                step computes both the blend and the paste
  resizemix (b) `MixupModel(alpha=0, resizemix_alpha=1.0)`: ResizeMix alone
  fmix      (b) `MixupModel(alpha=0, fmix_alpha=1.0)`: FMix alone (its
                Fourier noise, ranks and masks drawn in the step)
  cutmix_alone (b) `MixupModel(alpha=0, cutmix_alpha=1.0)`: CutMix alone
  recipe    (b) the four methods (each alpha 1), one chosen per batch with
                equal probabilities: only the chosen one computed
  recipe_elem (b) the same with `mode="elem"`: every method drawn and
                applied, each example keeping its own

The variants' compiled train steps take turns step by step and are compared
block by block (`benchmarks/step_timing.py` states the method). Each variant runs as
`--copies` identical models (and pipelines), the blocks taking them in turn;
the A/A control measures how far two copies differ, and the JSON has each
copy's ratio too.

Backends: `--backend` (or `KERAS_BACKEND`) picks Keras's backend. On JAX and
PyTorch the variants that are Keras models run (plain, plain_aa, mixup,
mixup_pb, mixup_fixed, mixup_tb), fed from batches already on the device,
and the keras.io pipeline (kerasio), whose batches are converted to the
backend's tensors step by step; `keras.layers.MixUp` in tf.data (kl_mixup)
and the draw diagnostics are TensorFlow's.

Input pipelines: (a) and (b) read batches prefetched by tf.data, as in
`fit`. The mixing pipelines of (c) and (d) run inside the timed call (no
prefetch, a sequential `map`): taking turns, a prefetching pipeline would
do its work while the other variants' steps are timed. This charges them
their whole CPU time, which is what they cost where the step keeps every
core busy (as on the CPU here); on an accelerator with idle cores,
prefetching can hide them.

Results: a table on stdout and JSON under `--out`.

Usage:
    python -m benchmarks.step_cost [--quick] [--models cnn resnet]
        [--batch-sizes 64 512] [--jit false true] [--sweep 32 64 ... 1024]
        [--steps-per-execution 1] [--blocks 15] [--copies 3] [--tag cpu]
        [--backend tensorflow|jax|torch]
    python -m benchmarks.step_cost --count-ops
"""

import argparse
import os
import platform

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from keras import tree

from benchmarks import step_timing
from benchmarks.reports import format_ratio
from benchmarks.reports import write_json
from experiments import keras_io_reference
from experiments.backend_choice import add_backend_argument
from experiments.backend_choice import check_backend
from experiments.models import build_cnn
from mixup_model import MixupModel
from mixup_model import MixupTensorBoard
from mixup_model.params import MixParams
from mixup_model.sampling import sample_batch_params

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

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


VARIANTS = ("plain", "plain_aa", "mixup", "mixup_pb", "mixup_fixed", "mixup_tb",
            "kerasio", "kl_mixup")
# The variants that are Keras models alone, without a tf.data pipeline or
# TensorFlow ops of their own: they run on every backend.
PORTABLE_VARIANTS = ("plain", "plain_aa", "mixup", "mixup_pb", "mixup_fixed", "mixup_tb")
DIAGNOSTIC_VARIANTS = ("mixup_late", "mixup_uniform", "mixup_xla_draw")
# The family's settings, on top of mixup's.
_FOUR = dict(alpha=1.0, cutmix_alpha=1.0, resizemix_alpha=1.0, fmix_alpha=1.0)
FAMILY_SETTINGS = {
    "cutmix": dict(cutmix_alpha=1.0),
    "cutmix_alone": dict(alpha=0.0, cutmix_alpha=1.0),
    "cutmix_elem": dict(cutmix_alpha=1.0, mode="elem"),
    "resizemix": dict(alpha=0.0, resizemix_alpha=1.0),
    "fmix": dict(alpha=0.0, fmix_alpha=1.0),
    "recipe": dict(_FOUR),
    "recipe_elem": dict(_FOUR, mode="elem"),
}
FAMILY_VARIANTS = tuple(FAMILY_SETTINGS)

# The batch-size sweep (CNN, no XLA): the floor, its A/A control, mixup and
# the blend alone.
SWEEP_VARIANTS = ["plain", "plain_aa", "mixup", "mixup_fixed"]

MODELS = {
    "cnn": (build_cnn, (28, 28, 1)),
    "resnet": (build_resnet, (32, 32, 3)),
}


def make_batches(x, y, batch_size):
    """Off TensorFlow: the data as a list of batches, which `step_timing`
    moves to the device once and takes in turn."""
    return [(x[i:i + batch_size], y[i:i + batch_size])
            for i in range(0, len(x) - batch_size + 1, batch_size)]


def make_pipelines(x, y, batch_size, seed=0):
    """The input pipeline of each variant, over the same in-memory data."""
    n = len(x)
    if keras.backend.backend() != "tensorflow":
        batches = make_batches(x, y, batch_size)
        return {
            **{name: batches for name in PORTABLE_VARIANTS + FAMILY_VARIANTS},
            # The seed's pipeline feeds any backend's model: its batches
            # are converted at each step, inside the timed call.
            "kerasio": keras_io_reference.mixup_dataset(
                x, y, batch_size, ALPHA, shuffle_buffer=n, repeat=True,
                num_parallel_calls=None,
            ),
        }

    def shuffled(s):
        return (
            tf.data.Dataset.from_tensor_slices((x, y))
            .shuffle(n, seed=s, reshuffle_each_iteration=True)
            .repeat()
        )

    keras_mixup = keras.layers.MixUp(alpha=ALPHA, seed=seed)

    def keras_layer_map(images, labels):
        out = keras_mixup({"images": images, "labels": labels})
        return out["images"], out["labels"]

    def plain():
        return shuffled(seed).batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return {
        "plain": plain(),
        "plain_aa": plain(),
        "mixup": plain(),
        "mixup_pb": plain(),
        "mixup_fixed": plain(),
        "mixup_tb": plain(),
        **{name: plain() for name in DIAGNOSTIC_VARIANTS + FAMILY_VARIANTS},
        "kerasio": keras_io_reference.mixup_dataset(
            x, y, batch_size, ALPHA, shuffle_buffer=n, repeat=True,
            num_parallel_calls=None,
        ),
        "kl_mixup": shuffled(seed).batch(batch_size).map(keras_layer_map),
    }


class FixedMixupModel(MixupModel):
    """`MixupModel` that blends with a fixed lambda and fixed partners, so
    that no sampling happens in its step (the `mixup_fixed` ablation)."""

    def sample_mix_params(self, batch_size, image_size=None):
        return MixParams(
            lam=ops.full([batch_size], 0.7),
            perm=ops.flip(ops.arange(batch_size, dtype="int32")),
        )


class LateDrawMixupModel(FixedMixupModel):
    """Draws as `MixupModel` does, blends as `FixedMixupModel`: the drawn
    parameters enter only the loss, with weight 0 (the `mixup_late`
    diagnostic: does the step wait for the draw?)."""

    def sample_mix_params(self, batch_size, image_size=None):
        # Past Keras's attribute tracking: a traced tensor, not model state.
        object.__setattr__(
            self, "_late_draw", MixupModel.sample_mix_params(self, batch_size)
        )
        return super().sample_mix_params(batch_size)

    def compute_loss(self, *args, **kwargs):
        drawn = self._late_draw
        unused = tf.reduce_sum(drawn.lam) + tf.cast(tf.reduce_sum(drawn.perm), "float32")
        return super().compute_loss(*args, **kwargs) + 0.0 * unused


class UniformDrawMixupModel(MixupModel):
    """lambda and partners from one uniform draw (the `mixup_uniform`
    diagnostic: lambda ~ U(0, 1), not Beta; a lower bound on the draw)."""

    def sample_mix_params(self, batch_size, image_size=None):
        seed = self.mixup_seed_generator.next()
        u = tf.random.stateless_uniform(tf.stack([2, batch_size]), seed=seed)
        return MixParams(lam=u[0], perm=tf.argsort(u[1]))


@tf.function(jit_compile=True)
def _draw_in_xla(batch, seed, rates):
    alpha, _, prob = tf.unstack(rates)[:3]
    # XLA needs the batch size as a shape, so it comes from the batch.
    return sample_batch_params(tf.shape(batch)[0], seed, alpha=alpha, prob=prob)


class XlaDrawMixupModel(MixupModel):
    """mixup's draw as a nested XLA function (the `mixup_xla_draw`
    diagnostic)."""

    def train_step(self, data):
        object.__setattr__(self, "_batch", tree.flatten(data)[0])
        return super().train_step(data)

    def sample_mix_params(self, batch_size, image_size=None):
        seed = self.mixup_seed_generator.next()
        return _draw_in_xla(self._batch, seed, tf.convert_to_tensor(self.mixup_rates))


MODEL_CLASSES = {
    "mixup_fixed": FixedMixupModel,
    "mixup_late": LateDrawMixupModel,
    "mixup_uniform": UniformDrawMixupModel,
    "mixup_xla_draw": XlaDrawMixupModel,
}


def make_model(name, build, initial_weights, log_dir):
    inner = build()
    inner.set_weights(initial_weights)
    if name in ("plain", "plain_aa", "kerasio", "kl_mixup"):
        return inner
    lambda_mode = "per_batch" if name == "mixup_pb" else "per_sample"
    model_class = MODEL_CLASSES.get(name, MixupModel)
    settings = {"alpha": ALPHA, "lambda_mode": lambda_mode, "seed": 0,
                **FAMILY_SETTINGS.get(name, {})}
    model = model_class(inner, **settings)
    if name == "mixup_tb":
        # What the callback switches on in `fit`: the step records its
        # statistics (it writes them only at the end of an epoch).
        MixupTensorBoard(log_dir).set_model(model)
    return model


def bench_config(model_name, batch_size, jit, variants, blocks, seconds,
                 warmup, log_dir, steps_per_execution=1, config_seconds=90,
                 copies=3):
    build, input_shape = MODELS[model_name]
    rng = np.random.default_rng(0)
    n = batch_size * 8
    x = rng.random((n,) + input_shape, dtype=np.float32)
    y = np.eye(NUM_CLASSES, dtype="float32")[rng.integers(0, NUM_CLASSES, n)]
    keras.utils.set_random_seed(0)
    initial = build().get_weights()
    # Each variant gets `copies` identical models (and pipelines): one copy
    # can run a few percent faster or slower than another for its whole
    # life (the A/A control shows it), so blocks take the copies in turn.
    step_timing.forget_compiled_steps()
    steppers = {name: [] for name in variants}
    for _ in range(copies):
        pipelines = make_pipelines(x, y, batch_size)
        for name in variants:
            model = make_model(name, build, initial, os.path.join(log_dir, "tb"))
            model.compile(
                optimizer="adam", loss="categorical_crossentropy",
                jit_compile=jit, steps_per_execution=steps_per_execution,
            )
            assert model.jit_compile == jit, (name, model.jit_compile)
            if keras.backend.backend() != "tensorflow":
                # The JAX step takes the optimizer's and metrics' variables
                # as its state, so they must exist: one step builds them.
                # (TensorFlow builds them in the step's first trace.)
                model.train_on_batch(x[:batch_size], y[:batch_size])
            steppers[name].append(step_timing.Stepper(model, pipelines[name]))
    times, rounds = step_timing.interleave(
        steppers, blocks=blocks, seconds=seconds,
        config_seconds=config_seconds, warmup=warmup,
    )
    return step_timing.summarize(
        times, batch_size, floors=("plain", "mixup"), copies=copies,
        steps_per_block=rounds * steps_per_execution,
    )


def count_step_ops(model_name="cnn", batch_size=64, variants=("plain", "mixup")):
    """Ops in each variant's traced train step (outside XLA). A count, not a
    cost: the `mixup_fixed` ablation, not the op count, shows where the time
    goes."""
    build, input_shape = MODELS[model_name]
    x = np.zeros((batch_size,) + input_shape, "float32")
    y = np.eye(NUM_CLASSES, dtype="float32")[np.arange(batch_size) % NUM_CLASSES]
    initial = build().get_weights()
    spec = make_pipelines(x, y, batch_size)["plain"].element_spec
    counts = {}
    for name in variants:
        model = make_model(name, build, initial, log_dir=None)
        model.compile(optimizer="adam", loss="categorical_crossentropy", jit_compile=False)
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # builds the optimizer
        graph = tf.function(model.train_step).get_concrete_function(spec).graph
        ops = [op.type for op in graph.get_operations()]
        counts[name] = {"ops": len(ops), "ops_not_const": sum(t != "Const" for t in ops)}
    return counts


def describe_machine():
    backend = keras.backend.backend()
    versions = {"keras": keras.__version__, "tensorflow": tf.__version__}
    if backend != "tensorflow":
        versions[backend] = __import__(backend).__version__
    return {
        "backend": backend,
        "cpu_cores": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "gpus": [d.device_kind for d in __import__("jax").devices() if d.platform == "gpu"]
        if backend == "jax" else [
            tf.config.experimental.get_device_details(g).get("device_name", g.name)
            for g in tf.config.list_physical_devices("GPU")
        ] if backend == "tensorflow" else [],
        "platform": platform.platform(),
        **versions,
    }


def _cell(result):
    """`ms (ratio ±half the interquartile range)`."""
    return f"{result['ms_per_step']:.2f} ({format_ratio(result)})"


def format_table(rows, variants):
    head = "| model | batch | XLA | " + " | ".join(
        f"{v} ms (×plain)" for v in variants
    ) + " |"
    lines = [head, "|" + "---|" * (3 + len(variants))]
    for row in rows:
        cells = [_cell(row["results"][v]) for v in variants]
        lines.append(
            f"| {row['model']} | {row['batch_size']} | {'on' if row['jit'] else 'off'} | "
            + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=["cnn", "resnet"], choices=sorted(MODELS))
    p.add_argument("--batch-sizes", nargs="+", type=int, default=[64, 512])
    p.add_argument("--jit", nargs="+", default=None, choices=["false", "true"],
                   help="jit_compile of the steps (default: false and true on "
                   "TensorFlow, true on JAX, false on PyTorch: each backend's "
                   "usual step)")
    p.add_argument("--variants", nargs="+", default=None,
                   choices=VARIANTS + DIAGNOSTIC_VARIANTS + FAMILY_VARIANTS,
                   help="default: every variant the backend runs")
    p.add_argument("--sweep", nargs="*", type=int, default=[32, 64, 128, 256, 512, 1024],
                   help="batch sizes for the (b)/(a) sweep on the CNN, with the "
                   "first --jit setting")
    p.add_argument("--blocks", type=int, default=15,
                   help="at most; fewer (but at least 5) where blocks are long")
    p.add_argument("--config-seconds", type=float, default=90,
                   help="about how long the blocks of a configuration take")
    p.add_argument("--seconds", type=float, default=4.0,
                   help="about how long a block takes")
    p.add_argument("--warmup", type=int, default=10, help="compiled calls")
    p.add_argument("--copies", type=int, default=3,
                   help="identical models per variant, taking blocks in turn "
                   "(one copy can be a few percent faster or slower than another)")
    p.add_argument("--out", default=os.path.join(REPO, "logs", "benchmarks"))
    p.add_argument("--tag", default=None,
                   help="name of the JSON file (default: cpu, and cpu_<backend> "
                   "off TensorFlow)")
    p.add_argument("--steps-per-execution", type=int, default=1,
                   help="train steps per compiled call (Keras's compile option); "
                   "more steps per call take Python's per-call overhead out "
                   "of the timings")
    p.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    p.add_argument("--count-ops", action="store_true",
                   help="only count the ops of the CNN's train step, plain and "
                   "mixup (TensorFlow)")
    add_backend_argument(p)
    args = p.parse_args(argv)
    check_backend(p, args)
    on_tensorflow = args.backend == "tensorflow"
    if args.copies < 1:
        p.error(f"--copies must be at least 1, got {args.copies}")
    if args.tag is None:
        args.tag = "cpu" if on_tensorflow else f"cpu_{args.backend}"
    if args.jit is None:
        args.jit = {"tensorflow": ["false", "true"], "jax": ["true"]}.get(
            args.backend, ["false"])
    if args.variants is None:
        args.variants = list(VARIANTS if on_tensorflow else PORTABLE_VARIANTS + ("kerasio",))
    not_here = [v for v in args.variants
                if v not in PORTABLE_VARIANTS + FAMILY_VARIANTS + ("kerasio",)]
    if not on_tensorflow and (not_here or args.count_ops):
        p.error(f"--backend {args.backend} runs the variants "
                f"{', '.join(PORTABLE_VARIANTS + ('kerasio',))}; "
                f"{', '.join(not_here) or '--count-ops'} need TensorFlow")
    if args.backend == "torch" and args.steps_per_execution != 1:
        p.error("--steps-per-execution must be 1 on PyTorch (Keras supports "
                f"no other value there), got {args.steps_per_execution}")
    if "plain" not in args.variants:
        args.variants.insert(0, "plain")
    if "mixup_tb" in args.variants and "mixup" not in args.variants:
        args.variants.insert(1, "mixup")
    if args.quick:
        args.models, args.batch_sizes, args.sweep = ["cnn"], [8], [4]
        args.blocks, args.seconds, args.warmup, args.copies = 2, 0.01, 2, 2
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.count_ops:
        counts = count_step_ops()
        for name, count in counts.items():
            print(f"{name}: {count['ops']} ops in the train step, "
                  f"{count['ops_not_const']} of them not constants")
        return counts
    rows = []
    for model_name in args.models:
        for batch_size in args.batch_sizes:
            for jit in [j == "true" for j in args.jit]:
                results = bench_config(model_name, batch_size, jit, args.variants,
                                       args.blocks, args.seconds, args.warmup, args.out,
                                       args.steps_per_execution, args.config_seconds,
                                       args.copies)
                rows.append({"model": model_name, "batch_size": batch_size, "jit": jit, "results": results})
                print(format_table(rows[-1:], args.variants).splitlines()[-1], flush=True)
    sweep = []
    for batch_size in args.sweep:
        results = bench_config("cnn", batch_size, args.jit[0] == "true", SWEEP_VARIANTS,
                               args.blocks, args.seconds, args.warmup, args.out,
                               args.steps_per_execution, args.config_seconds, args.copies)
        sweep.append({"batch_size": batch_size, "ratio_vs_plain": results["mixup"]["ratio_vs_plain"],
                      "aa_ratio_vs_plain": results["plain_aa"]["ratio_vs_plain"],
                      "fixed_ratio_vs_plain": results["mixup_fixed"]["ratio_vs_plain"],
                      "ratio_vs_plain_iqr": results["mixup"]["ratio_vs_plain_iqr"],
                      "ms_per_step": results["mixup"]["ms_per_step"],
                      "plain_ms_per_step": results["plain"]["ms_per_step"]})
        print(f"sweep batch {batch_size}: mixup/plain {sweep[-1]['ratio_vs_plain']:.3f}, "
              f"mixup_fixed/plain {sweep[-1]['fixed_ratio_vs_plain']:.3f}, "
              f"A/A {sweep[-1]['aa_ratio_vs_plain']:.3f}", flush=True)
    report = {"machine": describe_machine(), "args": vars(args), "rows": rows, "sweep": sweep}
    print()
    print(format_table(rows, args.variants))
    if "mixup_tb" in args.variants:
        print("\nMixupTensorBoard's statistics, mixup_tb/mixup: " + ", ".join(
                  f"{r['model']}/{r['batch_size']}/{'xla' if r['jit'] else 'graph'} "
                  f"{r['results']['mixup_tb']['ratio_vs_mixup']:.3f}" for r in rows))
    if sweep:
        print("\n| batch | " + " | ".join(str(s["batch_size"]) for s in sweep) + " |")
        print("|---|" + "---|" * len(sweep))
        print(f"| mixup/plain (CNN, {'XLA' if args.jit[0] == 'true' else 'no XLA'}) | " + " | ".join(f"{s['ratio_vs_plain']:.3f}" for s in sweep) + " |")
        print("| mixup_fixed/plain | " + " | ".join(f"{s['fixed_ratio_vs_plain']:.3f}" for s in sweep) + " |")
        print("| A/A control, plain_aa/plain | " + " | ".join(f"{s['aa_ratio_vs_plain']:.3f}" for s in sweep) + " |")
    print("\nwrote " + write_json(report, args.out, f"benchmark_{args.tag}.json"))
    return report


if __name__ == "__main__":
    main()
