#!/usr/bin/env python
"""Where mixup pays on clean data: the keras.io CNN trained long, over seeds.

The keras.io recipe (Fashion-MNIST, the example's CNN, Adam, batch 64, the
first 2,000 training images held out for validation) run for many more
epochs than its 10, so that the baseline has time to overfit: the baseline
(`MixupModel` with alpha 0) against mixup at several alphas, every arm of a
seed from the same initial weights and data order. After every epoch the
clean test set is scored (accuracy, NLL, ECE); reported per run are the last
epoch, the epoch with the best validation accuracy (a choice made without
the test set), the best test epoch (optimistic: it peeks at the test set),
and the epoch where validation loss was lowest (where overfitting starts).
If the example's CNN does not overfit, `--model flatten` trains the same
CNN with room to: no dropout, and `Flatten` in place of global pooling.
The summary gives each arm's mean and standard deviation over the seeds and
the paired difference to the baseline with its 95% t interval.

Each finished (seed, arm) run is saved to `--out` at once; running again
skips the runs already there (resume after an interruption, or add seeds).
TensorBoard logs per run go next to `--out` (`tensorboard/`), with the test
curves as `epoch_test_accuracy`, `epoch_test_loss` and `epoch_test_ece`.

Usage:
    python -m experiments.long_schedule [--seeds 1 2 3] [--alphas 0.2 0.4 1.0]
        [--epochs 50] [--model keras-io|flatten]
        [--out logs/long_schedule/results.json]
        [--train-size N] [--data-dir DIR] [--summary-only]
"""

import argparse
import os

import keras
import numpy as np

from experiments import main_job as job
from experiments import records
from experiments import stats
from experiments.cli import add_common_arguments
from experiments.cli import parse_checked
from experiments.fashion_mnist import CLASS_NAMES
from experiments.models import build_cnn
from experiments.models import build_flatten_cnn
from experiments.scoring import fit_and_score
from mixup_model import MixupModel
from mixup_model import MixupTensorBoard


# --model: the keras.io CNN, or the same with room to overfit.
MODELS = {"keras-io": build_cnn, "flatten": build_flatten_cnn}
BASELINE = "baseline"
# Per run, the test metrics reported at each chosen epoch.
TEST_METRICS = ("accuracy", "loss", "ece")
# The epochs at which each run is read (found by `chosen_epochs`).
EPOCH_CHOICES = ("last", "best_validation", "best_test")


def arm_name(alpha):
    return BASELINE if alpha == 0 else f"mixup_alpha{alpha:g}"


def chosen_epochs(curves):
    """The 0-based epochs of `EPOCH_CHOICES` from a run's per-epoch curves."""
    return {
        "last": len(curves["test_accuracy"]) - 1,
        "best_validation": int(np.argmax(curves["val_accuracy"])),
        "best_test": int(np.argmax(curves["test_accuracy"])),
    }


def summarize_run(curves):
    """A run's record: its curves, and the test metrics at each chosen epoch
    (epochs counted from 1, as Keras prints them)."""
    run = {"curves": curves}
    for choice, epoch in chosen_epochs(curves).items():
        run[choice] = {"epoch": epoch + 1}
        run[choice].update({m: curves[f"test_{m}"][epoch] for m in TEST_METRICS})
    run["lowest_validation_loss_epoch"] = int(np.argmin(curves["val_loss"])) + 1
    return run


def train_run(alpha, data, initial_weights, args, log_dir):
    """Trains one arm of one seed and returns its `summarize_run` record."""
    keras.utils.set_random_seed(args.seed)  # same dropout and data order per arm
    cnn = MODELS[args.model]()
    cnn.set_weights(initial_weights)
    model = MixupModel(cnn, alpha=alpha, seed=args.seed)
    history, tester, seconds = fit_and_score(
        model, "categorical_crossentropy", data, args, validation_batch_size=1000,
        callbacks=[MixupTensorBoard(log_dir, class_names=CLASS_NAMES)],
    )
    curves = {
        name: [round(float(v), 5) for v in history.history[name]]
        for name in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    for m in TEST_METRICS:
        curves[f"test_{m}"] = [round(s[m], 5) for s in tester.scores]
    run = summarize_run(curves)
    run["alpha"] = alpha
    run["seconds"] = round(seconds, 1)
    return run


def summarize(record):
    """Per arm, mean/std/95% interval over the seeds of each metric at each
    chosen epoch; per mixup arm, the paired difference to the baseline."""
    runs = record["runs"]
    arms = [arm_name(a) for a in [0.0] + record["settings"]["alphas"]]
    # Only seeds with every arm finished enter the comparison.
    seeds_done = [
        s for s in sorted({key.split("/")[0] for key in runs}, key=int)
        if all(f"{s}/{a}" in runs for a in arms)
    ]
    summary = {"seeds": [int(s) for s in seeds_done]}
    if not seeds_done:
        return summary

    def values(arm, choice, metric):
        return [runs[f"{s}/{arm}"][choice][metric] for s in seeds_done]

    for arm in arms:
        summary[arm] = {
            choice: {m: stats.describe(values(arm, choice, m))
                     for m in TEST_METRICS + ("epoch",)}
            for choice in EPOCH_CHOICES
        }
        summary[arm]["lowest_validation_loss_epoch"] = stats.describe(
            [runs[f"{s}/{arm}"]["lowest_validation_loss_epoch"] for s in seeds_done]
        )
        if arm != BASELINE:
            summary[f"{arm}_minus_baseline"] = {
                choice: {
                    m: stats.paired_difference(
                        values(arm, choice, m), values(BASELINE, choice, m)
                    )
                    for m in TEST_METRICS
                }
                for choice in EPOCH_CHOICES
            }
    return summary


def format_summary(record):
    summary = record["summary"]
    settings = record["settings"]
    lines = [
        f"Fashion-MNIST, {settings['model']} CNN, {settings['epochs']} epochs, seeds "
        f"{summary['seeds']} (mean ± std; difference: mean [95% CI])",
        "| arm | last-epoch test acc. (%) | at best val. acc. (%) | best test acc. (%) "
        "| last NLL | last ECE (%) | lowest val. loss at epoch |",
        "|---|---|---|---|---|---|---|",
    ]
    arms = [arm_name(a) for a in [0.0] + settings["alphas"]]

    def cell(d, scale, digits):
        return f"{scale * d['mean']:.{digits}f} ± {scale * d['std']:.{digits}f}"

    def ci(d, scale, digits):
        low, high = d["ci95"]
        return f"{scale * d['mean']:+.{digits}f} [{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"

    for arm in arms:
        if arm not in summary:
            continue
        s = summary[arm]
        lines.append(
            f"| {arm} | {cell(s['last']['accuracy'], 100, 2)} | "
            f"{cell(s['best_validation']['accuracy'], 100, 2)} | "
            f"{cell(s['best_test']['accuracy'], 100, 2)} | "
            f"{cell(s['last']['loss'], 1, 4)} | {cell(s['last']['ece'], 100, 2)} | "
            f"{cell(s['lowest_validation_loss_epoch'], 1, 1)} |"
        )
    for arm in arms[1:]:
        name = f"{arm}_minus_baseline"
        if name in summary:
            d = summary[name]
            lines.append(
                f"| {arm} − baseline | {ci(d['last']['accuracy'], 100, 2)} | "
                f"{ci(d['best_validation']['accuracy'], 100, 2)} | "
                f"{ci(d['best_test']['accuracy'], 100, 2)} | "
                f"{ci(d['last']['loss'], 1, 4)} | {ci(d['last']['ece'], 100, 2)} | |"
            )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument(
        "--alphas", type=float, nargs="+", default=[0.2, 0.4, 1.0],
        help="mixup arms; the baseline (alpha 0) always runs",
    )
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument(
        "--model", choices=sorted(MODELS), default="keras-io",
        help="keras-io: the example's CNN; flatten: the same without dropout "
        "and with Flatten in place of global pooling (more room to overfit)",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument(
        "--summary-only", action="store_true",
        help="print the summary of the runs already in --out; train nothing",
    )
    add_common_arguments(parser, "long_schedule")
    args = parse_checked(parser, argv)
    if any(a <= 0 for a in args.alphas):
        parser.error(f"--alphas must be > 0 (the baseline always runs); got {args.alphas}")
    return args


def main(argv=None):
    args = parse_args(argv)
    settings = {
        "epochs": args.epochs,
        "alphas": args.alphas,
        "batch_size": args.batch_size,
        "train_size": args.train_size,
        "model": args.model,
    }
    record = records.load(args.out, settings)
    log_root = records.tensorboard_root(args.out)
    if not args.summary_only:
        data = job.load_data(args.data_dir, args.train_size)
        # Seed by seed, so that an interrupted run leaves whole seeds behind.
        for seed in args.seeds:
            keras.utils.set_random_seed(seed)
            initial_weights = MODELS[args.model]().get_weights()
            args.seed = seed
            for alpha in [0.0] + args.alphas:
                key = f"{seed}/{arm_name(alpha)}"
                if records.is_finished(args.out, record, key):
                    continue
                log_dir = os.path.join(log_root, f"{arm_name(alpha)}_seed{seed}")
                run = train_run(alpha, data, initial_weights, args, log_dir)
                records.add_run(args.out, record, key, run, summarize)
                print(
                    f"{key}: last {run['last']['accuracy']:.4f}, at best val. "
                    f"{run['best_validation']['accuracy']:.4f}, lowest val. loss "
                    f"at epoch {run['lowest_validation_loss_epoch']}, {run['seconds']} s",
                    flush=True,
                )
    return records.finish(args.out, record, summarize, format_summary)


if __name__ == "__main__":
    main()
