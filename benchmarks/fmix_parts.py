"""Where FMix's draw spends its time: its parts timed alone, and beside the
partners' sort, each as one compiled function (XLA on TensorFlow, `jax.jit`).

Parts (batch 64, 28 x 28 masks unless told otherwise):
  normals      the noise spectrum's standard normals (Box-Muller)
  noise        the normals and the inverse FFTs: the noise images
  threshold    the bisection that keeps each row's `num` largest values
               (on fixed values)
  mask         the whole draw (`sample_masks`): noise, coin, threshold
  perm         the partners: argsort of uniforms
  X+perm       part X and the partners in one function, as in a train step
  uniform_noise  the FFTs of uniforms instead of normals

The functions take turns (`--repeats` rounds of `--calls` calls each, new
seeds every call) and each part's median over the rounds is reported in ms.

Usage:
    python -m benchmarks.fmix_parts [--backend tensorflow|jax] [--out docs]
"""

import argparse
import os
import time

import keras
import numpy as np
from keras import ops

from benchmarks.reports import host
from benchmarks.reports import write_json
from experiments.backend_choice import add_backend_argument
from experiments.backend_choice import check_backend
from mixup_model.backend import current as backend
from mixup_model.draws import sample_permutation
from mixup_model.methods import fmix

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parts(batch_size, shape):
    spectrum = fmix.frequency_grid(shape).shape

    def normals(seed):
        return fmix._normals((batch_size,) + spectrum + (2,), seed)

    def noise(seed):
        return fmix.low_frequency_noise(normals(seed), shape, 3.0)

    def threshold(seed):
        size = int(np.prod(shape))
        values = ops.sin(ops.reshape(ops.arange(batch_size * size, dtype="float32"),
                                     (batch_size, size)) * ops.cast(seed[0] + 1, "float32"))
        return fmix._largest(values, ops.full((batch_size,), size / 2))

    def mask(seed):
        return fmix.sample_masks(batch_size, 1.0, seed, shape)[0]

    def perm(seed):
        return sample_permutation(batch_size, backend.fold_in(seed, 7))

    def uniform_noise(seed):
        uniforms = backend.uniform((batch_size,) + spectrum + (2,), seed)
        return fmix.low_frequency_noise(uniforms, shape, 3.0)

    alone = {"normals": normals, "noise": noise, "threshold": threshold, "mask": mask,
             "perm": perm, "uniform_noise": uniform_noise}
    beside = {f"{name}+perm": (lambda f: lambda seed: (f(seed), perm(seed)))(f)
              for name, f in alone.items() if name != "perm"}
    return {**alone, **beside}


def compiled(function):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(function, jit_compile=True)
    import jax

    return jax.jit(function)


def time_parts(functions, calls, repeats):
    dtype = "uint32" if keras.backend.backend() == "jax" else "int32"
    seeds = [ops.convert_to_tensor(np.array([i, 5]), dtype) for i in range(calls)]

    def run(f):
        out = None
        for s in seeds:
            out = f(s)
        keras.tree.map_structure(ops.convert_to_numpy, out)  # waits for the device

    for f in functions.values():  # compiles
        run(f)
    times = {name: [] for name in functions}
    for _ in range(repeats):
        for name, f in functions.items():
            start = time.perf_counter()
            run(f)
            times[name].append((time.perf_counter() - start) / calls * 1e3)
    return {name: float(np.median(t)) for name, t in times.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--shape", type=int, nargs="+", default=[28, 28])
    p.add_argument("--calls", type=int, default=20)
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--out", default=os.path.join(REPO, "logs", "benchmarks"))
    add_backend_argument(p)
    args = p.parse_args(argv)
    check_backend(p, args)
    if args.backend == "torch":
        p.error("--backend torch: FMix's draw is timed in a compiled function (TensorFlow, JAX)")
    functions = {k: compiled(f) for k, f in parts(args.batch_size, tuple(args.shape)).items()}
    ms = time_parts(functions, args.calls, args.repeats)
    for name, value in ms.items():
        print(f"{name:22s} {value:8.3f} ms")
    report = {"machine": {**host(), "backend": args.backend, "keras": keras.__version__},
              "args": vars(args), "ms": ms}
    write_json(report, args.out, f"fmix_parts_cpu_{args.backend}.json")
    return report


if __name__ == "__main__":
    main()
