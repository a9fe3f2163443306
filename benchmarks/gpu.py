#!/usr/bin/env python
"""What mixup costs per training step on a GPU: Keras on JAX and on PyTorch,
against a plain PyTorch loop with timm's `Mixup`.

Three parts, each in a process of its own (Keras picks its backend once, at
import), each timing whole training steps on synthetic data already on the
device, the variants taking turns step by step as `benchmarks/step_timing.py` describes
(results waited for before each clock read):

  keras-jax    Keras on JAX (`jax.jit`): `plain`, `plain_aa` (an identical
               copy: the A/A control), `mixup` (`MixupModel`, alpha 0.2, one
               lambda per example) and `deit` (`MixupModel` with the DeiT
               recipe: alpha 0.8, cutmix_alpha 1.0, switch_prob 0.5,
               label_smoothing 0.1).
  keras-torch  Keras on PyTorch: `plain`, `plain_aa` and `mixup`, eager
               (Keras's default there), and with `--torch-compile` also
               `plain_compiled` and `mixup_compiled` (`jit_compile=True`).
  torch        The anchor: a plain PyTorch loop (torchvision's ResNet-50,
               Adam, bf16 autocast, channels-last) without mixing (`plain`),
               with timm's `Mixup` at alpha 0.2 (`timm_mixup`) and with the
               DeiT recipe (`timm_deit`), timm's default per-batch mode,
               targets from `SoftTargetCrossEntropy`.

Models: `keras.applications.ResNet50(weights=None)` at 224x224x3, 1000
classes, batch 128, `mixed_bfloat16` (an ImageNet-sized step), and the
keras.io CNN at batch 512 (a tiny step, where any fixed cost shows; Keras
parts only). Every Keras model trains with Adam and categorical
cross-entropy on one-hot targets.

Reported per configuration: ms per step, images per second, the ratio to its
own part's `plain` (median over blocks and its interquartile range) and the
physical floor of the blend: the bytes it must read and write (the inputs
and targets twice, the mixed ones once) divided by the device's memory
bandwidth, measured in the same run by a device-to-device copy, as a
fraction of the plain step.

`--tiny` runs the same code on a CPU in seconds (small shapes, few steps);
the torch part is skipped where torch, torchvision or timm is missing, and
each part where its framework is.

Usage:
    python -m benchmarks.gpu [--tiny] [--parts keras-jax keras-torch torch] [--models resnet50 cnn]
        [--torch-compile] [--out docs] [--tag h200]

On a machine with JAX, PyTorch and timm but without Keras, carry Keras and
the packages it needs as wheels (`scripts/gpu_wheels.sh` downloads them into
`.whl/`, which git ignores) and install them first:
    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl
    PYTHONPATH=/tmp/site python3 -m benchmarks.gpu --tag h200
"""

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

from benchmarks.reports import host
from benchmarks.reports import write_json

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTS = {"keras-jax": "jax", "keras-torch": "torch", "torch": "torch"}
KERAS_VARIANTS = {
    "keras-jax": ("plain", "plain_aa", "mixup", "deit"),
    "keras-torch": ("plain", "plain_aa", "mixup"),
}
TORCH_COMPILED_VARIANTS = ("plain_compiled", "mixup_compiled")
ANCHOR_VARIANTS = ("plain", "timm_mixup", "timm_deit")
DEIT = dict(alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, label_smoothing=0.1)
ALPHA = 0.2


class Config:
    """One model at one batch size: its name, shapes and dtype policy."""

    def __init__(self, name, batch_size, image_shape, num_classes, policy):
        self.name = name
        self.batch_size = batch_size
        self.image_shape = image_shape
        self.num_classes = num_classes
        self.policy = policy

    def to_json(self):
        return {"model": self.name, "batch_size": self.batch_size,
                "image_shape": list(self.image_shape),
                "num_classes": self.num_classes, "policy": self.policy}

    def blend_bytes(self):
        """What one blend must move: inputs and targets (float32) read twice
        (each example and its partner) and written once."""
        elements = self.batch_size * (math.prod(self.image_shape) + self.num_classes)
        return 3 * 4 * elements


MODEL_NAMES = ("resnet50", "cnn")


def configs(tiny):
    if tiny:
        return [Config("resnet50", 4, (32, 32, 3), 10, "mixed_bfloat16"),
                Config("cnn", 8, (28, 28, 1), 10, None)]
    return [Config("resnet50", 128, (224, 224, 3), 1000, "mixed_bfloat16"),
            Config("cnn", 512, (28, 28, 1), 10, None)]


def synthetic_batches(config, count=2, seed=0):
    """`count` batches of uniform images and one-hot targets (float32)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        x = rng.random((config.batch_size,) + config.image_shape, dtype=np.float32)
        labels = rng.integers(0, config.num_classes, config.batch_size)
        y = np.eye(config.num_classes, dtype=np.float32)[labels]
        batches.append((x, y))
    return batches


# ---------------------------------------------------------------------------
# The Keras parts (run in a child process with KERAS_BACKEND set).


def build_keras_model(config):
    import keras

    if config.name == "cnn":
        from experiments.models import build_cnn

        return build_cnn()
    return keras.applications.ResNet50(
        weights=None, input_shape=config.image_shape, classes=config.num_classes
    )


def keras_variants(part, torch_compile):
    names = list(KERAS_VARIANTS[part])
    if part == "keras-torch" and torch_compile:
        names += TORCH_COMPILED_VARIANTS
    return names


def make_keras_model(name, config, initial):
    from mixup_model import MixupModel

    net = build_keras_model(config)
    net.set_weights(initial)
    if name.startswith("plain"):
        model = net
    elif name == "deit":
        model = MixupModel(net, seed=0, **DEIT)
    else:
        model = MixupModel(net, alpha=ALPHA, seed=0)
    model.compile(
        optimizer="adam", loss="categorical_crossentropy",
        jit_compile=name.endswith("_compiled") or _default_jit(),
    )
    return model


def _default_jit():
    import keras

    # Each backend's usual step: `jax.jit` on JAX, eager on PyTorch.
    return keras.backend.backend() == "jax"


def run_keras_part(part, args):
    import keras

    if keras.backend.backend() == "jax":
        _enable_jax_compilation_cache()
    from benchmarks import step_timing

    rows = []
    for config in configs(args.tiny):
        if config.name not in args.models:
            continue
        step_timing.forget_compiled_steps()
        keras.mixed_precision.set_dtype_policy(config.policy or "float32")
        try:
            keras.utils.set_random_seed(0)
            initial = build_keras_model(config).get_weights()
            batches = synthetic_batches(config)
            x, y = batches[0]
            steppers, compile_seconds = {}, {}
            for name in keras_variants(part, args.torch_compile):
                start = time.perf_counter()
                steppers[name] = []
                for _ in range(args.copies):
                    model = make_keras_model(name, config, initial)
                    model.train_on_batch(x, y)  # builds, traces and compiles
                    steppers[name].append(step_timing.Stepper(model, batches))
                compile_seconds[name] = round(time.perf_counter() - start, 1)
            times, rounds = step_timing.interleave(
                steppers, blocks=args.blocks, seconds=args.seconds,
                warmup=args.warmup, min_rounds=args.min_rounds,
            )
            results = step_timing.summarize(
                times, config.batch_size, copies=args.copies, steps_per_block=rounds
            )
            for name, result in results.items():
                result["build_and_compile_s"] = compile_seconds[name]
            rows.append({**config.to_json(), "results": results})
            print(f"{part} {config.name}: " + ", ".join(
                f"{n} {r['ms_per_step']:.2f} ms" for n, r in results.items()),
                file=sys.stderr, flush=True)
        finally:
            keras.mixed_precision.set_dtype_policy("float32")
    return {"rows": rows, "bandwidth_gb_s": measure_bandwidth(args.tiny),
            "versions": _versions(), "device": _device_name()}


def _enable_jax_compilation_cache():
    """Identical copies of a model compile to the same XLA program: a
    persistent cache compiles it once (ResNet-50's step takes a while)."""
    import jax

    jax.config.update("jax_compilation_cache_dir",
                      tempfile.mkdtemp(prefix="gpu_benchmark_jax_cache_"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


# ---------------------------------------------------------------------------
# The anchor: plain PyTorch with torchvision's ResNet-50 and timm's Mixup.


class TorchLoopStepper:
    """One training step of a plain PyTorch loop, timed like a Keras step."""

    def __init__(self, model, optimizer, loss_fn, batches, mix=None):
        import itertools

        import torch

        self.torch = torch
        self.model, self.optimizer, self.loss_fn = model, optimizer, loss_fn
        self.batches = itertools.cycle(batches)
        self.mix = mix
        self.device_type = next(model.parameters()).device.type

    def step(self):
        torch = self.torch
        x, labels = next(self.batches)
        start = time.perf_counter()
        # timm mixes in place and returns soft targets.
        x, target = self.mix(x, labels) if self.mix is not None else (x, labels)
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            loss = self.loss_fn(self.model(x), target)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        if self.device_type == "cuda":
            torch.cuda.synchronize()
        else:
            loss.item()
        return time.perf_counter() - start


def run_torch_part(args):
    import importlib.util

    missing = [m for m in ("torch", "torchvision", "timm")
               if importlib.util.find_spec(m) is None]
    if missing:
        return {"skipped": f"not installed: {', '.join(missing)}"}
    import timm.data
    import timm.loss
    import torch
    import torchvision

    from benchmarks import step_timing

    device = "cuda" if torch.cuda.is_available() else "cpu"
    config = configs(args.tiny)[0]  # ResNet-50
    torch.manual_seed(0)
    initial = torchvision.models.resnet50(num_classes=config.num_classes).state_dict()
    batches = [
        (torch.from_numpy(x).permute(0, 3, 1, 2).contiguous(
            memory_format=torch.channels_last).to(device),
         torch.from_numpy(y.argmax(-1)).to(device))
        for x, y in synthetic_batches(config)
    ]
    recipes = {"plain": None, "timm_mixup": dict(mixup_alpha=ALPHA, label_smoothing=0.0),
               "timm_deit": dict(mixup_alpha=DEIT["alpha"], cutmix_alpha=DEIT["cutmix_alpha"],
                                 switch_prob=DEIT["switch_prob"],
                                 label_smoothing=DEIT["label_smoothing"])}
    steppers = {}
    for name, recipe in recipes.items():
        steppers[name] = []
        for _ in range(args.copies):
            model = torchvision.models.resnet50(num_classes=config.num_classes)
            model.load_state_dict(initial)
            model = model.to(device, memory_format=torch.channels_last).train()
            optimizer = torch.optim.Adam(model.parameters())
            if recipe is None:
                mix, loss_fn = None, torch.nn.CrossEntropyLoss()
            else:
                mix = timm.data.Mixup(num_classes=config.num_classes, **recipe)
                loss_fn = timm.loss.SoftTargetCrossEntropy()
            steppers[name].append(TorchLoopStepper(model, optimizer, loss_fn, batches, mix))
    times, rounds = step_timing.interleave(
        steppers, blocks=args.blocks, seconds=args.seconds, warmup=args.warmup,
        min_rounds=args.min_rounds,
    )
    results = step_timing.summarize(
        times, config.batch_size, copies=args.copies, steps_per_block=rounds
    )
    return {"rows": [{**config.to_json(), "results": results}],
            "bandwidth_gb_s": measure_bandwidth(args.tiny),
            "versions": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                         "timm": __import__("timm").__version__},
            "device": _device_name()}


# ---------------------------------------------------------------------------
# The device: its name, its memory bandwidth, the libraries' versions.


def measure_bandwidth(tiny):
    """GB/s of a device-to-device copy (bytes read plus bytes written),
    the best of ten copies of a 1 GiB buffer (16 MiB with `tiny`)."""
    import keras

    nbytes = (16 if tiny else 1024) * 2**20
    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        src = torch.ones(nbytes // 4, device=device)
        dst = torch.empty_like(src)

        def copy():
            dst.copy_(src)
            if device == "cuda":
                torch.cuda.synchronize()
    else:
        import jax
        import jax.numpy as jnp

        src = jnp.ones(nbytes // 4)
        plus_one = jax.jit(lambda a: a + 1)
        plus_one(src).block_until_ready()

        def copy():
            plus_one(src).block_until_ready()

    copy()
    best = min(_seconds(copy) for _ in range(10))
    return 2 * nbytes / best / 1e9


def _seconds(function):
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _versions():
    import keras

    backend = keras.backend.backend()
    return {"keras": keras.__version__, backend: __import__(backend).__version__}


def _device_name():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return f"{device.platform}: {device.device_kind}"
    import torch

    if torch.cuda.is_available():
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.processor() or platform.machine()}"


def nvidia_smi():
    """The GPU's name and driver as `nvidia-smi` reports them, or None."""
    if shutil.which("nvidia-smi") is None:
        return None
    out = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
         "--format=csv,noheader"], capture_output=True, text=True, check=False,
    )
    return out.stdout.strip() or None


# ---------------------------------------------------------------------------
# The parent: one child per part, then the floors and the table.


def run_part(part, args):
    """Runs `part` in a process of its own; returns its report."""
    framework = PARTS[part]
    import importlib.util

    if importlib.util.find_spec(framework) is None:
        return {"skipped": f"not installed: {framework}"}
    command = [sys.executable, "-m", "benchmarks.gpu", "--child", part,
               "--blocks", str(args.blocks), "--seconds", str(args.seconds),
               "--warmup", str(args.warmup), "--copies", str(args.copies),
               "--models", *args.models]
    command += ["--tiny"] * args.tiny + ["--torch-compile"] * args.torch_compile
    env = dict(os.environ, KERAS_BACKEND=framework, TF_CPP_MIN_LOG_LEVEL="2")
    start = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env,
                            check=False, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"the {part} part failed (exit {result.returncode}); "
                           "its error is above")
    report = json.loads(result.stdout.strip().splitlines()[-1])
    report["wall_s"] = round(time.perf_counter() - start, 1)
    return report


def add_floors(parts):
    """Each mixed variant's blend floor, in ms and as a fraction of the
    plain step of its part, from that part's measured bandwidth."""
    for report in parts.values():
        bandwidth = report.get("bandwidth_gb_s")
        for row in report.get("rows", []):
            config = Config(row["model"], row["batch_size"], tuple(row["image_shape"]),
                            row["num_classes"], row["policy"])
            floor_ms = 1000 * config.blend_bytes() / (bandwidth * 1e9)
            plain_ms = row["results"]["plain"]["ms_per_step"]
            for name, result in row["results"].items():
                if not name.startswith("plain"):
                    result["blend_floor_ms"] = floor_ms
                    result["blend_floor_fraction"] = floor_ms / plain_ms


def format_table(parts):
    lines = ["| part | model | batch | variant | ms/step | images/s | ×plain (IQR) "
             "| blend floor |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for part, report in parts.items():
        if "skipped" in report:
            lines.append(f"| {part} | skipped: {report['skipped']} | | | | | | |")
            continue
        for row in report["rows"]:
            for name, r in row["results"].items():
                q1, q3 = r["ratio_vs_plain_iqr"]
                floor = (f"{1000 * r['blend_floor_ms']:.0f} µs "
                         f"({100 * r['blend_floor_fraction']:.2f}%)"
                         if "blend_floor_ms" in r else "")
                lines.append(
                    f"| {part} | {row['model']} | {row['batch_size']} | {name} "
                    f"| {r['ms_per_step']:.2f} | {r['images_per_s']:.0f} "
                    f"| {r['ratio_vs_plain']:.3f} ({q1:.3f}–{q3:.3f}) | {floor} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    p.add_argument("--tiny", action="store_true",
                   help="small shapes and few steps, on whatever device there is")
    p.add_argument("--torch-compile", action="store_true",
                   help="also Keras on PyTorch with jit_compile=True (torch.compile)")
    p.add_argument("--blocks", type=int, default=10)
    p.add_argument("--seconds", type=float, default=2.0, help="about a block's length")
    p.add_argument("--warmup", type=int, default=5, help="steps per model before timing")
    p.add_argument("--copies", type=int, default=2, help="identical models per variant")
    p.add_argument("--models", nargs="+", choices=MODEL_NAMES, default=list(MODEL_NAMES),
                   help="the Keras parts' models (the PyTorch anchor is ResNet-50)")
    p.add_argument("--out", default=os.path.join(REPO, "docs"))
    p.add_argument("--tag", default=None, help="write <out>/gpu_benchmark_<tag>.json")
    p.add_argument("--child", choices=list(PARTS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.blocks < 1 or args.copies < 1 or args.warmup < 0 or args.seconds <= 0:
        p.error("--blocks and --copies must be at least 1, --warmup at least 0 and "
                f"--seconds positive. Received: --blocks {args.blocks}, --copies "
                f"{args.copies}, --warmup {args.warmup}, --seconds {args.seconds}")
    # A smoke test: one short block, one step of warm-up.
    args.min_rounds = 2 if args.tiny else 5
    if args.tiny:
        args.blocks, args.seconds, args.warmup = 1, 0.01, 1
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        report = run_torch_part(args) if args.child == "torch" else run_keras_part(
            args.child, args)
        print(json.dumps(report))
        return report
    parts = {}
    for part in args.parts:
        parts[part] = run_part(part, args)
        print(f"{part}: done", file=sys.stderr, flush=True)
    add_floors(parts)
    report = {
        "gpu": nvidia_smi(),
        "machine": host(),
        "settings": {k: v for k, v in vars(args).items()
                     if k not in ("out", "child", "min_rounds")},
        "parts": parts,
    }
    print(format_table(parts))
    if args.tag:
        print("wrote " + write_json(report, args.out, f"gpu_benchmark_{args.tag}.json"))
    return report


if __name__ == "__main__":
    main()
