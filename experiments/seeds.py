#!/usr/bin/env python
"""The keras.io experiment over several seeds, with error bars.

For each seed, trains the mixup arm and the baseline arm from the same
initial weights and data order (the main job, `experiments/main_job.py`),
then reports for each arm the mean +- std of test accuracy, test loss (NLL)
and expected calibration error, and the paired difference mixup - baseline
with a 95% t confidence interval. With `--keras-io-reference` each seed also
trains the keras.io example's own pipeline from the same initial weights,
and the report adds the paired difference mixup - keras.io: is `MixupModel`
as good as the code it replaces?

Each finished seed is written to `--out` at once; running the command again
skips the seeds already there (resume after an interruption, or add seeds).
`--seeds 3 4` runs a subset.

Usage:
    python -m experiments.seeds [--seeds 1 2 3 4 5] [--epochs 10] [--alpha 0.2]
        [--out logs/seeds/results.json] [--data-dir DIR] [--summary-only]
        [--keras-io-reference]
"""

import argparse
import time

from experiments import main_job as job
from experiments import records
from experiments import stats
from experiments.cli import add_common_arguments
from experiments.cli import parse_checked


ARMS = ("mixup", "baseline")
KERAS_IO_ARM = "keras.io"
METRICS = ("test_accuracy", "test_loss", "test_ece")
# The paired differences reported: (name, arm, the arm it is compared with).
DIFFERENCES = (("mixup_minus_baseline", "mixup", "baseline"),
               ("mixup_minus_keras_io", "mixup", KERAS_IO_ARM))


def arms_of(settings):
    return ARMS + ((KERAS_IO_ARM,) if settings.get("keras_io_reference") else ())


def settings_of(args):
    settings = {
        "epochs": args.epochs,
        "alpha": args.alpha,
        "batch_size": args.batch_size,
        "train_size": args.train_size,
    }
    if args.keras_io_reference:
        # Only when set, so that the records of two-arm runs stay valid.
        settings["keras_io_reference"] = True
    return settings


def summarize(runs, settings):
    """Per-arm statistics and paired differences over the finished seeds."""
    seeds = sorted(runs, key=int)
    arms = arms_of(settings)
    summary = {"seeds": [int(s) for s in seeds]}
    for arm in arms:
        summary[arm] = {
            m: stats.describe([runs[s][arm][m] for s in seeds])
            for m in METRICS
        }
    for name, arm, other in DIFFERENCES:
        if other in arms:
            summary[name] = {
                m: stats.paired_difference(
                    [runs[s][arm][m] for s in seeds],
                    [runs[s][other][m] for s in seeds],
                )
                for m in METRICS
            }
    return summary


def format_summary(summary, settings):
    def cell(d, scale=1.0, digits=2):
        return f"{scale * d['mean']:.{digits}f} ± {scale * d['std']:.{digits}f}"

    def ci(d, scale=1.0, digits=2):
        low, high = d["ci95"]
        return (
            f"{scale * d['mean']:+.{digits}f} "
            f"[{scale * low:+.{digits}f}, {scale * high:+.{digits}f}]"
        )

    lines = [
        f"Fashion-MNIST, keras.io CNN, alpha={settings['alpha']}, "
        f"{settings['epochs']} epochs, seeds {summary['seeds']} "
        f"(mean ± std; difference: mean [95% CI])",
        "| | test accuracy (%) | test NLL | test ECE (%) |",
        "|---|---|---|---|",
    ]
    for arm in arms_of(settings):
        s = summary[arm]
        lines.append(
            f"| {arm} | {cell(s['test_accuracy'], 100)} | "
            f"{cell(s['test_loss'], 1, 4)} | {cell(s['test_ece'], 100)} |"
        )
    for name, arm, other in DIFFERENCES:
        if name in summary:
            diff = summary[name]
            lines.append(
                f"| {arm} − {other} | {ci(diff['test_accuracy'], 100)} | "
                f"{ci(diff['test_loss'], 1, 4)} | {ci(diff['test_ece'], 100)} |"
            )
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3, 4, 5])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--alpha", type=float, default=0.2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument(
        "--summary-only",
        action="store_true",
        help="print the summary of the seeds already in --out; train nothing",
    )
    parser.add_argument(
        "--keras-io-reference",
        action="store_true",
        help="also train the keras.io example's own pipeline per seed, and "
        "report mixup − keras.io",
    )
    add_common_arguments(parser, "seeds")
    args = parse_checked(parser, argv)
    return args


def main(argv=None):
    args = parse_args(argv)
    settings = settings_of(args)
    record = records.load(args.out, settings)
    if not args.summary_only:
        log_root = records.tensorboard_root(args.out)
        for seed in args.seeds:
            if str(seed) in record["runs"]:
                print(f"seed {seed}: already in {args.out}, skipped", flush=True)
                continue
            start = time.perf_counter()
            job_args = job.parse_args(
                [
                    "--seed", str(seed),
                    "--epochs", str(args.epochs),
                    "--alpha", str(args.alpha),
                    "--batch-size", str(args.batch_size),
                    "--log-dir", log_root,
                    "--verbose", str(args.verbose),
                ]
                + (["--data-dir", args.data_dir] if args.data_dir else [])
                + (["--train-size", str(args.train_size)] if args.train_size else [])
                + (["--keras-io-reference"] if args.keras_io_reference else [])
            )
            results = job.run(job_args)
            results["wall_seconds"] = round(time.perf_counter() - start, 1)
            record["runs"][str(seed)] = results
            record["summary"] = summarize(record["runs"], settings)
            records.save(args.out, record)
            print(f"seed {seed}: done in {results['wall_seconds']} s", flush=True)
    if not record["runs"]:
        raise SystemExit(f"no finished seeds in {args.out}")
    record["summary"] = summarize(record["runs"], settings)
    records.save(args.out, record)
    print(format_summary(record["summary"], settings))
    return record


if __name__ == "__main__":
    main()
