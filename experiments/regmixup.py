#!/usr/bin/env python
"""RegMixup against mixup and the baseline: accuracy, calibration and OOD.

RegMixup (Pinto et al., NeurIPS 2022) trains on the clean batch and a mixed
copy together, loss = CE(clean) + η·CE(mixed), with a large α, and reports
better accuracy, calibration and out-of-distribution detection than mixup
and than training without it. This experiment checks those claims on
Fashion-MNIST with the CNN that overfits (`--model flatten`), 30 epochs,
paired by seed as the long schedule is: every arm of a seed starts from the
same weights and sees the same data order.

Arms: the baseline (`MixupModel` with alpha 0), mixup (α = 0.2, the keras.io
recipe) and RegMixup (η = 1). RegMixup's α is chosen from `--regmixup-alphas`
(the paper's 10 and 20) on the validation split: on `--selection-seed`
(seed 1, one of the reported seeds) every candidate runs, the one with the higher last-epoch validation accuracy
(lower validation loss on a tie) is chosen, and the other seeds run only
that one. The test set plays no part in the choice; the selection seed's
RegMixup run is the better of two on validation while the other arms had
one try, a mild advantage that the summary's per-seed runs let one check.

Reported per run, at the last epoch: test accuracy, NLL and ECE (15 bins),
and the AUROC of the maximum softmax probability (`mixup_model.msp_auroc`)
of the clean test set against a far-OOD set (scikit-learn's 8×8 digits) and
a near-OOD set (the test images patch-shuffled); `experiments.ood_sets`
says why those. The summary gives each arm's mean ± std over the seeds and
the paired difference of every two arms with its 95% t interval.

Each finished (seed, arm) run is saved to `--out` at once; running again
skips the runs already there.

Usage:
    python -m experiments.regmixup [--seeds 1 2 3] [--epochs 30]
        [--model flatten|keras-io] [--regmixup-alphas 10 20] [--eta 1]
        [--mixup-alpha 0.2] [--out logs/regmixup/results.json]
        [--train-size N] [--data-dir DIR] [--summary-only]
"""

import argparse
import os

import keras
import numpy as np

from experiments import main_job as job
from experiments import ood_sets
from experiments import records
from experiments import stats
from experiments.cli import add_common_arguments
from experiments.cli import parse_checked
from experiments.fashion_mnist import CLASS_NAMES
from experiments.long_schedule import MODELS
from experiments.scoring import fit_and_score
from mixup_model import MixupModel
from mixup_model import MixupTensorBoard
from mixup_model.ood import auroc
from mixup_model.ood import max_softmax_probability

BASELINE, MIXUP, REGMIXUP = "baseline", "mixup", "regmixup"
# Per run, the last epoch's test metrics; for each, whether higher is better.
METRICS = {
    "accuracy": True,
    "loss": False,
    "ece": False,
    "far_ood_auroc": True,
    "near_ood_auroc": True,
}
# The paired comparisons of the summary, `a − b`.
PAIRS = ((REGMIXUP, MIXUP), (REGMIXUP, BASELINE), (MIXUP, BASELINE))


def run_key(seed, arm, alpha=None):
    """The record's key of a run: `1/baseline`, `1/mixup`, `1/regmixup_alpha10`."""
    return f"{seed}/{arm}" if alpha is None else f"{seed}/{arm}_alpha{alpha:g}"


def build_model(arm, alpha, eta, cnn, seed):
    """The `MixupModel` of an arm."""
    if arm == BASELINE:
        return MixupModel(cnn, alpha=0.0, seed=seed)
    if arm == MIXUP:
        return MixupModel(cnn, alpha=alpha, seed=seed)
    return MixupModel(cnn, alpha=alpha, regmixup_eta=eta, seed=seed)


def ood_scores(in_probs, model, ood):
    """`{"far_ood_auroc": ..., "near_ood_auroc": ...}` of the maximum
    softmax probability, the in-distribution probabilities `in_probs`
    against each set of `ood` (`{"far": x, "near": x}`)."""
    in_msp = max_softmax_probability(in_probs)
    return {
        f"{name}_ood_auroc": auroc(
            in_msp, max_softmax_probability(model.predict(x, batch_size=1000, verbose=0))
        )
        for name, x in ood.items()
    }


def train_run(arm, alpha, data, ood, initial_weights, args, log_dir):
    """Trains one arm of one seed; returns its curves and last-epoch scores."""
    keras.utils.set_random_seed(args.seed)  # same data order per arm
    cnn = MODELS[args.model]()
    cnn.set_weights(initial_weights)
    model = build_model(arm, alpha, args.eta, cnn, args.seed)
    history, scorer, seconds = fit_and_score(
        model, "categorical_crossentropy", data, args, validation_batch_size=1000,
        callbacks=[MixupTensorBoard(log_dir, class_names=CLASS_NAMES)],
    )
    curves = {
        name: [round(float(v), 5) for v in history.history[name]]
        for name in ("loss", "accuracy", "val_loss", "val_accuracy")
    }
    last = dict(scorer.scores[-1])
    last.update(ood_scores(scorer.last_probs, model, ood))
    return {
        "arm": arm,
        "alpha": alpha,
        "curves": curves,
        "last": {name: round(value, 5) for name, value in last.items()},
        "seconds": round(seconds, 1),
    }


def chosen_alpha(record):
    """RegMixup's α chosen on the selection seed's validation split, or None
    while a candidate has not run: the higher last-epoch validation
    accuracy, then the lower validation loss."""
    settings = record["settings"]
    seed = settings["selection_seed"]
    candidates = []
    for alpha in settings["regmixup_alphas"]:
        run = record["runs"].get(run_key(seed, REGMIXUP, alpha))
        if run is None:
            return None
        curves = run["curves"]
        candidates.append((-curves["val_accuracy"][-1], curves["val_loss"][-1], alpha))
    return min(candidates)[2]


def summarize(record):
    """Per arm, `describe` of every metric over the seeds that ran all three
    arms (RegMixup at the chosen α); per pair of `PAIRS`, the paired
    difference."""
    alpha = chosen_alpha(record)
    if alpha is None:
        return {"seeds": []}
    settings = record["settings"]
    keys = {BASELINE: (BASELINE, None), MIXUP: (MIXUP, None), REGMIXUP: (REGMIXUP, alpha)}
    runs = record["runs"]
    seeds = sorted(
        s for s in {int(key.split("/")[0]) for key in runs}
        if all(run_key(s, *keys[arm]) in runs for arm in keys)
    )
    summary = {"seeds": seeds, "regmixup_alpha": alpha}
    if not seeds:
        return summary

    def values(arm, metric):
        return [runs[run_key(s, *keys[arm])]["last"][metric] for s in seeds]

    for arm in keys:
        summary[arm] = {m: stats.describe(values(arm, m)) for m in METRICS}
        summary[arm]["seconds"] = stats.describe(
            [runs[run_key(s, *keys[arm])]["seconds"] for s in seeds]
        )
    for a, b in PAIRS:
        summary[f"{a}_minus_{b}"] = {
            m: stats.paired_difference(values(a, m), values(b, m)) for m in METRICS
        }
    summary["selection"] = {
        f"{alpha:g}": {
            name: runs[run_key(settings["selection_seed"], REGMIXUP, alpha)]["curves"][name][-1]
            for name in ("val_accuracy", "val_loss")
        }
        for alpha in settings["regmixup_alphas"]
    }
    return summary


def verdict(difference, higher_is_better):
    """"better", "worse" or "no difference shown" from a paired difference's
    95% interval (whether it excludes 0, and on which side)."""
    low, high = difference["ci95"]
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no difference shown"
    if low > 0 or high < 0:
        return "better" if (low > 0) == higher_is_better else "worse"
    return "no difference shown"


def format_summary(record):
    summary = record["summary"]
    settings = record["settings"]
    if not summary.get(BASELINE):
        return "No seed has all three arms yet."
    head = "| | test acc. (%) | NLL | ECE (%) | far-OOD AUROC (%) | near-OOD AUROC (%) |"
    scales = {"accuracy": (100, 2), "loss": (1, 4), "ece": (100, 2),
              "far_ood_auroc": (100, 2), "near_ood_auroc": (100, 2)}
    lines = [
        f"Fashion-MNIST, {settings['model']} CNN, {settings['epochs']} epochs, seeds "
        f"{summary['seeds']}, RegMixup η = {settings['eta']:g}, α = "
        f"{summary['regmixup_alpha']:g} (mean ± std; difference: mean [95% CI])",
        head, "|---" * 6 + "|",
    ]
    for arm in (BASELINE, MIXUP, REGMIXUP):
        cells = [f"{k * summary[arm][m]['mean']:.{d}f} ± {k * summary[arm][m]['std']:.{d}f}"
                 for m, (k, d) in scales.items()]
        lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    for a, b in PAIRS:
        diff = summary[f"{a}_minus_{b}"]
        cells = []
        for m, (k, d) in scales.items():
            low, high = diff[m]["ci95"]
            cells.append(f"{k * diff[m]['mean']:+.{d}f} [{k * low:+.{d}f}, {k * high:+.{d}f}]")
        lines.append(f"| {a} − {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--model", choices=sorted(MODELS), default="flatten",
        help="flatten: the keras.io CNN without dropout and with Flatten "
        "(room to overfit); keras-io: the example's CNN",
    )
    parser.add_argument("--mixup-alpha", type=float, default=0.2)
    parser.add_argument(
        "--regmixup-alphas", type=float, nargs="+", default=[10.0, 20.0],
        help="RegMixup's candidate alphas, chosen on the validation split",
    )
    parser.add_argument("--eta", type=float, default=1.0, help="RegMixup's eta")
    parser.add_argument(
        "--selection-seed", type=int, default=1,
        help="the seed on which every candidate alpha runs and the one with the "
        "best validation accuracy is chosen; it runs first, as one of the seeds",
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument(
        "--summary-only", action="store_true",
        help="print the summary of the runs already in --out; train nothing",
    )
    add_common_arguments(parser, "regmixup")
    args = parse_checked(parser, argv)
    for name in ("mixup_alpha", "eta"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0; got {getattr(args, name)}")
    if any(a <= 0 for a in args.regmixup_alphas):
        parser.error(f"--regmixup-alphas must be > 0; got {args.regmixup_alphas}")
    if args.selection_seed not in args.seeds:
        args.seeds = [args.selection_seed] + args.seeds
    return args


def main(argv=None):
    args = parse_args(argv)
    settings = {
        "epochs": args.epochs,
        "model": args.model,
        "batch_size": args.batch_size,
        "train_size": args.train_size,
        "mixup_alpha": args.mixup_alpha,
        "regmixup_alphas": args.regmixup_alphas,
        "eta": args.eta,
        "selection_seed": args.selection_seed,
    }
    record = records.load(args.out, settings)
    log_root = records.tensorboard_root(args.out)
    if not args.summary_only:
        data = job.load_data(args.data_dir, args.train_size)
        ood = {"far": ood_sets.digits_28x28(), "near": ood_sets.patch_shuffled(data[2][0])}
        # The selection seed first: the other seeds need its choice.
        order = [args.selection_seed] + [s for s in args.seeds if s != args.selection_seed]
        for seed in order:
            keras.utils.set_random_seed(seed)
            initial_weights = MODELS[args.model]().get_weights()
            args.seed = seed
            if seed == args.selection_seed:
                regmixup_alphas = args.regmixup_alphas
            else:
                regmixup_alphas = [chosen_alpha(record)]
            arms = [(BASELINE, None), (MIXUP, None)] + [(REGMIXUP, a) for a in regmixup_alphas]
            for arm, alpha in arms:
                key = run_key(seed, arm, alpha)
                if records.is_finished(args.out, record, key):
                    continue
                log_dir = os.path.join(log_root, key.replace("/", "_seed_"))
                train_alpha = args.mixup_alpha if arm == MIXUP else alpha
                run = train_run(arm, train_alpha, data, ood, initial_weights, args, log_dir)
                records.add_run(args.out, record, key, run, summarize)
                last = run["last"]
                print(
                    f"{key}: acc {last['accuracy']:.4f}, NLL {last['loss']:.4f}, ECE "
                    f"{last['ece']:.4f}, AUROC far {last['far_ood_auroc']:.4f} near "
                    f"{last['near_ood_auroc']:.4f}, {run['seconds']} s",
                    flush=True,
                )
    return records.finish(args.out, record, summarize, format_summary)


if __name__ == "__main__":
    main()
