#!/usr/bin/env python
"""Writes the documentation pages that quote measurements, from the JSON the
experiments and benchmarks recorded, so that no number is copied by hand.

Each page `docs/<name>.md` (and the front page, `README.md`) is made from its
template `docs/templates/<name>.md`, whose placeholders are replaced:

  {{table:NAME}}             a table made by `TABLES[NAME]` from the JSON
  {{FILE|PATH|FORMAT}}       one value: FILE is a JSON file under docs/, PATH
                             its keys and list indices joined by dots (a key
                             that holds dots is written with `\\.`), FORMAT a
                             Python format spec (`.3f`, `.2%`, `+.2f`, ...);
                             `excess:.1%` formats a ratio's excess over 1,
                             `points:.2f` a fraction in percentage points

Usage:
    python -m tools.make_docs            # rewrite the pages
    python -m tools.make_docs --check    # exit 1 if a page is out of date
"""

import argparse
import functools
import json
import os
import re
import sys

from benchmarks.reports import format_ratio

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(REPO, "docs")
TEMPLATES = os.path.join(DOCS, "templates")
PLACEHOLDER = re.compile(r"\{\{(.+?)\}\}", re.S)


def load(name, _cache={}):
    if name not in _cache:
        with open(os.path.join(DOCS, name)) as f:
            _cache[name] = json.load(f)
    return _cache[name]


def lookup(data, path):
    """`data` at `path` (keys and indices joined by dots; `\\.` is a dot)."""
    for part in re.split(r"(?<!\\)\.", path):
        part = part.replace("\\.", ".")
        data = data[int(part)] if isinstance(data, list) else data[part]
    return data


def markdown_table(head, rows):
    lines = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" for _ in head) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# -- Performance ---------------------------------------------------------------

TENSORFLOW_VARIANTS = ("plain_aa", "mixup", "mixup_pb", "mixup_fixed", "mixup_tb",
                       "kerasio", "kl_mixup")
PORTABLE_VARIANTS = ("plain_aa", "mixup", "mixup_pb", "mixup_fixed", "mixup_tb")


def tensorflow_steps():
    head = ["model", "batch", "XLA", "(a) ms/step", "A/A control", "(b) mixup",
            "(b) per-batch λ", "(b) fixed λ and partners (ablation)",
            "(b) with `MixupTensorBoard` statistics", "(c) keras.io pipeline",
            "(d) `keras.layers.MixUp`"]
    rows = [
        [row["model"], row["batch_size"], "on" if row["jit"] else "off",
         f"{row['results']['plain']['ms_per_step']:.1f}"]
        + [format_ratio(row["results"][v]) for v in TENSORFLOW_VARIANTS]
        for row in load("benchmark_cpu.json")["rows"]
    ]
    return markdown_table(head, rows)


def tensorflow_sweep():
    sweep = load("benchmark_cpu.json")["sweep"]
    head = ["batch"] + [str(s["batch_size"]) for s in sweep]
    rows = [
        [label] + [f"{s[key]:.3f}" for s in sweep]
        for label, key in [("(b) mixup ÷ (a)", "ratio_vs_plain"),
                           ("(b) fixed λ and partners ÷ (a)", "fixed_ratio_vs_plain"),
                           ("A/A control ÷ (a)", "aa_ratio_vs_plain")]
    ]
    return markdown_table(head, rows)


def sweep_plain_ms():
    sweep = load("benchmark_cpu.json")["sweep"]
    values = [f"{s['plain_ms_per_step']:.1f}" for s in sweep]
    return ", ".join(values[:-1]) + " and " + values[-1]


def _cell(results, variant):
    return format_ratio(results[variant]) if variant in results else "—"


def other_backend_steps():
    head = ["backend", "model", "batch", "XLA", "(a) ms/step", "A/A control",
            "(b) mixup", "(b) per-batch λ", "(b) fixed λ and partners",
            "(b) with statistics", "(c) keras.io pipeline"]
    rows = []
    for backend in ("jax", "torch"):
        for row in load(f"benchmark_cpu_{backend}.json")["rows"]:
            rows.append(
                [backend, row["model"], row["batch_size"], "on" if row["jit"] else "off",
                 f"{row['results']['plain']['ms_per_step']:.1f}"]
                + [_cell(row["results"], v) for v in PORTABLE_VARIANTS + ("kerasio",)]
            )
    return markdown_table(head, rows)


def torch_compiled_steps():
    head = ["model", "batch", "(a) ms/step", "A/A control", "(b) mixup",
            "(c) keras.io pipeline"]
    rows = [
        [row["model"], row["batch_size"], f"{row['results']['plain']['ms_per_step']:.1f}"]
        + [_cell(row["results"], v) for v in ("plain_aa", "mixup", "kerasio")]
        for row in load("benchmark_cpu_torch_compile.json")["rows"]
    ]
    return markdown_table(head, rows)


def family_steps():
    head = ["backend", "model", "batch", "XLA", "(a) ms/step", "A/A control",
            "(b) mixup", "(b) mixup or CutMix per batch",
            "(b) mixup or CutMix per example", "(b) ResizeMix", "(b) FMix"]
    rows = []
    for backend, name in (("tensorflow", "benchmark_cpu_family.json"),
                          ("jax", "benchmark_cpu_family_jax.json")):
        for row in load(name)["rows"]:
            rows.append(
                [backend, row["model"], row["batch_size"], "on" if row["jit"] else "off",
                 f"{row['results']['plain']['ms_per_step']:.1f}"]
                + [format_ratio(row["results"][v])
                   for v in ("plain_aa", "mixup", "cutmix", "cutmix_elem", "resizemix", "fmix")]
            )
    return markdown_table(head, rows)


def _torch_ms(variant, minus="plain"):
    results = load("benchmark_cpu_torch.json")["rows"][0]["results"]
    return results[variant]["ms_per_step"] - results[minus]["ms_per_step"]


def torch_mixup_ms():
    """What mixup adds to eager PyTorch's step at batch 64, in ms."""
    return f"{_torch_ms('mixup'):.2f}"


def torch_blend_ms():
    """... of which the blend and the targets (the fixed-λ ablation)."""
    return f"{_torch_ms('mixup_fixed'):.2f}"


def diagnostics_aa_range():
    """The A/A control's lowest and highest ratio over the copies."""
    by_copy = load("benchmark_cpu_diagnostics.json")["rows"][0]["results"]["plain_aa"][
        "ratio_vs_plain_by_copy"]
    return f"{min(by_copy):.3f}–{max(by_copy):.3f}"


def jax_mixup_ratio():
    """mixup ÷ plain under `jax.jit` at batch 64."""
    return format_ratio(load("benchmark_cpu_jax.json")["rows"][0]["results"]["mixup"])


def backends_side_by_side():
    head = ["backend", "jit_compile", "batch", "plain ms/step", "A/A control",
            "mixup ÷ plain"]
    rows = [
        [report["backend"], row["jit_compile"], row["batch_size"],
         f"{row['results']['plain']['ms_per_step']:.2f}",
         format_ratio(row["results"]["plain_aa"], "ratio"), format_ratio(row["results"]["mixup"], "ratio")]
        for report in load("backend_benchmark_cpu.json")["backends"]
        for row in report["rows"]
    ]
    return markdown_table(head, rows)


# -- Results -------------------------------------------------------------------


def main_job():
    record = load("results/fashion_mnist.json")["results"]
    reference = record.get("keras.io")
    labels = {"mixup": "mixup (`MixupModel`, α = 0.2)", "baseline": "baseline (α = 0)",
              "keras.io": "keras.io code (mixup, α = 0.2)"}
    head = ["arm", "test accuracy", "test loss (NLL)", "test ECE", "mean confidence",
            "s/epoch"] + (["speed-up vs the keras.io code"] if reference else [])
    rows = []
    for arm, r in record.items():
        row = [labels[arm], f"{r['test_accuracy']:.2%}", f"{r['test_loss']:.4f}",
               f"{r['test_ece']:.2%}", f"{r['test_mean_confidence']:.2%}",
               f"{r['seconds_per_epoch']:.1f}"]
        if reference:
            row.append(f"{reference['seconds_per_epoch'] / r['seconds_per_epoch']:.2f}×")
        rows.append(row)
    return markdown_table(head, rows)


def _mean_std(d, scale, digits):
    return f"{scale * d['mean']:.{digits}f} ± {scale * d['std']:.{digits}f}"


def signed(value, digits):
    """`+0.23` or `−0.25` (a typographic minus)."""
    return f"{value:+.{digits}f}".replace("-", "−")


def _interval(d, scale, digits):
    low, high = d["ci95"]
    return (f"{signed(scale * d['mean'], digits)} "
            f"[{signed(scale * low, digits)}, {signed(scale * high, digits)}]")


def seeds_table():
    record = load("results/seeds.json")
    summary = record["summary"]
    columns = (("test_accuracy", 100, 2), ("test_loss", 1, 4), ("test_ece", 100, 2))
    head = ["", "test accuracy (%)", "test NLL", "test ECE (%)"]
    labels = {"mixup": f"mixup (α = {record['settings']['alpha']})",
              "baseline": "baseline", "keras.io": "keras.io code (mixup)"}
    rows = [[labels[arm]] + [_mean_std(summary[arm][m], s, d) for m, s, d in columns]
            for arm in ("mixup", "baseline", "keras.io") if arm in summary]
    for name, label in (("mixup_minus_baseline", "mixup − baseline"),
                        ("mixup_minus_keras_io", "mixup − keras.io")):
        if name in summary:
            rows.append([f"{label} (paired, mean [95% CI])"]
                        + [_interval(summary[name][m], s, d) for m, s, d in columns])
    return markdown_table(head, rows)


def _difference(name):
    """A paired difference in test accuracy, in points, with its interval."""
    d = load("results/seeds.json")["summary"][name]["test_accuracy"]
    low, high = d["ci95"]
    return (f"{signed(100 * d['mean'], 2)} points, 95% CI "
            f"[{signed(100 * low, 2)}, {signed(100 * high, 2)}]")


def seeds_headline():
    return _difference("mixup_minus_baseline")


def keras_io_difference():
    return _difference("mixup_minus_keras_io")


def seeds_per_seed():
    runs = load("results/seeds.json")["runs"]
    arms = [a for a in ("mixup", "baseline", "keras.io") if a in next(iter(runs.values()))]
    return ", ".join(
        "/".join(f"{100 * runs[s][a]['test_accuracy']:.2f}" for a in arms)
        for s in sorted(runs, key=int)
    ) + "%"


def label_noise_table():
    record = load("results/label_noise.json")
    head = ["label noise", "arm", "best test acc. (epoch)", "last-epoch test acc.",
            "test acc. at best val. epoch", "fit to noisy train labels",
            "last-epoch test ECE"]
    rows = []
    for key in sorted(record["runs"], key=lambda k: (float(k.split("/")[0]), k)):
        run = record["runs"][key]
        noise, arm = key.split("/")
        rows.append([
            f"{float(noise):.0%}",
            "baseline" if run["alpha"] == 0 else f"mixup α = {run['alpha']:g}",
            f"{run['best_test_accuracy']:.2%} ({run['best_epoch']})",
            f"{run['last_test_accuracy']:.2%}",
            f"{run['test_accuracy_at_best_validation']:.2%}",
            f"{run['fit_to_noisy_train_labels']:.1%}", f"{run['last_test_ece']:.2%}",
        ])
    return markdown_table(head, rows)


def _noise_runs(arm):
    """{noise fraction: run} of one arm ("baseline" or "mixup")."""
    runs = load("results/label_noise.json")["runs"]
    return {float(key.split("/")[0]): run for key, run in runs.items()
            if key.split("/")[1].startswith(arm)}


def _span(values, fmt, joiner="–"):
    return f"{format(min(values), fmt)}{joiner}{format(max(values), fmt)}"


def _points(values):
    return "/".join(f"{100 * v:.0f}" for v in values)


def noise_fit_all():
    """How much of its noisy training labels the baseline fits, any noise."""
    return _span([r["fit_to_noisy_train_labels"] * 100 for r in _noise_runs("baseline").values()], ".0f")


def noise_fit_noisy():
    runs = _noise_runs("baseline")
    return _span([r["fit_to_noisy_train_labels"] * 100 for n, r in runs.items() if n > 0], ".0f")


def _last_under_noise(arm):
    runs = _noise_runs(arm)
    return _points([runs[n]["last_test_accuracy"] for n in sorted(runs) if n > 0])


def noise_last_baseline():
    return _last_under_noise("baseline")


def noise_last_mixup():
    return _last_under_noise("mixup")


def noise_clean_cost():
    """What mixup costs without noise, in accuracy points, over the best,
    last and at-best-validation columns."""
    base, mix = _noise_runs("baseline")[0.0], _noise_runs("mixup")[0.0]
    keys = ("best_test_accuracy", "last_test_accuracy", "test_accuracy_at_best_validation")
    return _span([100 * (base[k] - mix[k]) for k in keys], ".1f")


def noise_ece_under_noise():
    runs = [r for arm in ("baseline", "mixup") for n, r in _noise_runs(arm).items() if n > 0]
    return _span([100 * r["last_test_ece"] for r in runs], ".0f")


def noise_last_gaps():
    base, mix = _noise_runs("baseline"), _noise_runs("mixup")
    return _span([100 * (mix[n]["last_test_accuracy"] - base[n]["last_test_accuracy"])
                  for n in base if n > 0], ".0f", " to ")


def noise_wall_time():
    seconds = sum(r["seconds"] for r in load("results/label_noise.json")["runs"].values())
    return f"{int(seconds // 60)} min {int(seconds % 60)} s"


def _long_schedule_table(name):
    """Each arm's mean ± std over seeds, then each mixup arm's paired
    difference to the baseline with its 95% interval."""
    record = load(f"results/{name}.json")
    summary = record["summary"]
    columns = (("last", "accuracy", 100, 2), ("best_validation", "accuracy", 100, 2),
               ("best_test", "accuracy", 100, 2), ("last", "loss", 1, 4),
               ("last", "ece", 100, 2))
    head = ["", "last-epoch test acc. (%)", "test acc. at best val. epoch (%)",
            "best test acc., any epoch (%)", "last-epoch test NLL",
            "last-epoch test ECE (%)", "lowest val. loss at epoch"]
    arms = ["baseline"] + [f"mixup_alpha{a:g}" for a in record["settings"]["alphas"]]
    label = {arm: "baseline" if arm == "baseline"
             else f"mixup α = {arm[len('mixup_alpha'):]}" for arm in arms}
    rows = []
    for arm in arms:
        s = summary[arm]
        rows.append([label[arm]] + [_mean_std(s[c][m], k, d) for c, m, k, d in columns]
                    + [_mean_std(s["lowest_validation_loss_epoch"], 1, 0)])
    for arm in arms[1:]:
        diff = summary[f"{arm}_minus_baseline"]
        rows.append([f"{label[arm]} − baseline (paired, mean [95% CI])"]
                    + [_interval(diff[c][m], k, d) for c, m, k, d in columns] + [""])
    return markdown_table(head, rows)


def _differences(name, choice, metric, scale, digits):
    """Each mixup arm's paired difference to the baseline at one chosen
    epoch, with its interval: "α = 0.2: −0.41 [−1.07, +0.24]; ..."."""
    record = load(f"results/{name}.json")
    summary = record["summary"]
    return "; ".join(
        f"α = {alpha:g}: "
        + _interval(summary[f"mixup_alpha{alpha:g}_minus_baseline"][choice][metric],
                    scale, digits)
        for alpha in record["settings"]["alphas"]
    )


def _mixup_lowest_loss_epochs(name):
    """The mixup arms' mean epochs of lowest validation loss, as a range."""
    record = load(f"results/{name}.json")
    return _span([record["summary"][f"mixup_alpha{a:g}"]["lowest_validation_loss_epoch"]["mean"]
                  for a in record["settings"]["alphas"]], ".0f")


def long_schedule_table():
    return _long_schedule_table("long_schedule")


def long_schedule_flatten_table():
    return _long_schedule_table("long_schedule_flatten")


def _long_schedule_seconds(name):
    seconds = sum(r["seconds"] for r in load(f"results/{name}.json")["runs"].values())
    return f"{seconds / 60:.0f} min"


def long_schedule_minutes():
    return _long_schedule_seconds("long_schedule")


def long_schedule_flatten_minutes():
    return _long_schedule_seconds("long_schedule_flatten")


# The RegMixup experiment's metrics: column head, scale, digits.
_REGMIXUP_COLUMNS = (
    ("accuracy", "test acc. (%)", 100, 2),
    ("loss", "test NLL", 1, 4),
    ("ece", "test ECE (%)", 100, 2),
    ("far_ood_auroc", "far-OOD AUROC (%)", 100, 2),
    ("near_ood_auroc", "near-OOD AUROC (%)", 100, 2),
)


def _regmixup_label(arm, record):
    settings, summary = record["settings"], record["summary"]
    return {
        "baseline": "baseline",
        "mixup": f"mixup α = {settings['mixup_alpha']:g}",
        "regmixup": f"RegMixup η = {settings['eta']:g}, α = {summary['regmixup_alpha']:g}",
    }[arm]


def regmixup_table():
    """Each arm's last-epoch mean ± std over seeds, then each pair's
    paired difference with its 95% interval."""
    from experiments.regmixup import PAIRS

    record = load("results/regmixup.json")
    summary = record["summary"]
    head = [""] + [title for _, title, _, _ in _REGMIXUP_COLUMNS]
    rows = [
        [_regmixup_label(arm, record)]
        + [_mean_std(summary[arm][m], k, d) for m, _, k, d in _REGMIXUP_COLUMNS]
        for arm in ("baseline", "mixup", "regmixup")
    ]
    for a, b in PAIRS:
        diff = summary[f"{a}_minus_{b}"]
        rows.append(
            [f"{_regmixup_label(a, record)} − {_regmixup_label(b, record)} "
             "(paired, mean [95% CI])"]
            + [_interval(diff[m], k, d) for m, _, k, d in _REGMIXUP_COLUMNS]
        )
    return markdown_table(head, rows)


def regmixup_verdicts():
    """The paper's claims, metric by metric: RegMixup against mixup and
    against the baseline, "better", "worse" or "no difference shown" by
    whether the paired 95% interval excludes 0."""
    from experiments.regmixup import METRICS
    from experiments.regmixup import verdict

    summary = load("results/regmixup.json")["summary"]
    head = ["claim: RegMixup is better in", "against mixup", "against the baseline"]
    rows = []
    for metric, title, scale, digits in _REGMIXUP_COLUMNS:
        cells = [title.replace(" (%)", "")]
        for other in ("mixup", "baseline"):
            diff = summary[f"regmixup_minus_{other}"][metric]
            cells.append(f"{verdict(diff, METRICS[metric])} "
                         f"({_interval(diff, scale, digits)})")
        rows.append(cells)
    return markdown_table(head, rows)


def regmixup_selection():
    """The validation scores behind the choice of RegMixup's alpha."""
    record = load("results/regmixup.json")
    selection = record["summary"]["selection"]
    return "; ".join(
        f"α = {alpha}: {100 * s['val_accuracy']:.2f}% (loss {s['val_loss']:.4f})"
        for alpha, s in selection.items()
    )


def regmixup_per_seed():
    """Each seed's OOD AUROCs per arm (the summary's intervals are wide at
    three seeds; the direction per seed shows what they hide)."""
    record = load("results/regmixup.json")
    summary, runs = record["summary"], record["runs"]
    keys = {"baseline": "baseline", "mixup": "mixup",
            "regmixup": f"regmixup_alpha{summary['regmixup_alpha']:g}"}
    head = ["seed"] + [f"{kind}-OOD AUROC (%), {_regmixup_label(arm, record)}"
                       for kind in ("far", "near") for arm in keys]
    rows = [
        [str(seed)] + [f"{100 * runs[f'{seed}/{keys[arm]}']['last'][f'{kind}_ood_auroc']:.2f}"
                       for kind in ("far", "near") for arm in keys]
        for seed in summary["seeds"]
    ]
    return markdown_table(head, rows)


def _regmixup_difference(a, b, metric, scale, digits):
    diff = load("results/regmixup.json")["summary"][f"{a}_minus_{b}"][metric]
    return _interval(diff, scale, digits)


def regmixup_seconds_ratio():
    """RegMixup's mean run time over mixup's (the same epochs and batches)."""
    summary = load("results/regmixup.json")["summary"]
    return f"{summary['regmixup']['seconds']['mean'] / summary['mixup']['seconds']['mean']:.1f}"


def regmixup_seeds():
    seeds = load("results/regmixup.json")["summary"]["seeds"]
    return ", ".join(map(str, seeds))


def regmixup_minutes():
    seconds = sum(r["seconds"] for r in load("results/regmixup.json")["runs"].values())
    return f"{seconds / 60:.0f} min"


def scaling():
    from benchmarks.scaling import format_table

    return format_table(load("scaling_cpu.json")["rows"])


def scaling_minutes():
    return f"{load('scaling_cpu.json')['seconds'] / 60:.0f}"



# -- Methods (from their docstrings) -------------------------------------------


def _docstring_sections(doc):
    """`(summary, {section: {name: text}})` of a Google-style docstring."""
    import inspect

    lines = inspect.cleandoc(doc).splitlines()
    summary, sections, section, name = [], {}, None, None
    for line in lines:
        header = re.fullmatch(r"(Args|Attributes|Returns|Raises|Example):", line.strip())
        if header and not line.startswith(" "):
            section, name = header.group(1), None
            sections[section] = {}
        elif section is None:
            summary.append(line)
        elif section in ("Args", "Attributes"):
            item = re.match(r"    (\w+): (.*)", line)
            if item:
                name = item.group(1)
                sections[section][name] = item.group(2)
            elif name and line.strip():
                sections[section][name] += " " + line.strip()
    return " ".join(x.strip() for x in summary if x.strip()), sections


def _signature(cls):
    import inspect

    parameters = list(inspect.signature(cls.__init__).parameters.values())[1:]
    return ", ".join(f"{p.name}={p.default!r}" for p in parameters)


def methods_reference():
    """A section per registered batch method, from its module's and its
    class's docstrings: what it does, after which reference, its options
    and the flat arguments that build it."""
    import inspect

    from mixup_model.methods import BATCH_METHODS

    out = []
    for cls in BATCH_METHODS:
        module = sys.modules[cls.__module__]
        title, _, body = inspect.getdoc(module).partition("\n\n")
        _, sections = _docstring_sections(cls.__doc__)
        flat_of = {argument: name for name, argument in cls.flat_arguments.items()}
        rows = [[f"`{name}`", f"`{flat_of.get(name, '')}`", text]
                for name, text in sections.get("Args", {}).items()]
        out += [
            f"### {cls.caption}: `{cls.__name__}({_signature(cls)})`",
            "",
            " ".join(title.split()),
            "",
            body.strip(),
            "",
            markdown_table(["argument", "flat argument", "meaning"], rows),
            "",
        ]
    return "\n".join(out).rstrip()


def flat_arguments():
    """`MixupModel`'s flat arguments: what each builds, and its default."""
    from mixup_model import flat
    from mixup_model.methods import BATCH_METHODS

    owners = {name: (cls, argument) for cls in BATCH_METHODS
              for name, argument in cls.flat_arguments.items()}
    rows = []
    for name, default in flat.FLAT_ARGUMENTS.items():
        if name in owners:
            cls, argument = owners[name]
            builds = f"`{cls.__name__}({argument}=...)`"
        elif name == "method_probs":
            builds = "`OneOf(probs=...)`, by method key"
        else:
            builds = f"`OneOf({name}=...)`"
        rows.append([f"`{name}`", f"`{default!r}`", builds])
    return markdown_table(["flat argument", "default", "builds"], rows)


RECIPE_METHODS = ("mixup", "cutmix_alone", "resizemix", "fmix")


def _recipe_rows():
    for backend, name in (("tensorflow", "benchmark_cpu_recipe.json"),
                          ("jax", "benchmark_cpu_recipe_jax.json"),
                          ("torch", "benchmark_cpu_recipe_torch.json")):
        for row in load(name)["rows"]:
            results = row["results"]
            extras = [results[v]["ratio_vs_plain"] - 1.0 for v in RECIPE_METHODS]
            mean_extra = sum(extras) / len(extras)
            yield backend, row, results, mean_extra


def recipe_steps():
    """Each method alone and the recipe of the four, per batch and per
    example: step cost ÷ the plain step's, and the per-batch recipe's extra
    cost ÷ the mean of its methods' extra costs."""
    head = ["backend", "compiled", "(a) ms/step", "A/A control", "(b) mixup", "(b) CutMix",
            "(b) ResizeMix", "(b) FMix", "mean extra", "(b) recipe per batch",
            "its extra ÷ mean extra", "(b) recipe per example"]
    compiled = {"tensorflow": {False: "graph", True: "XLA"}, "jax": {True: "jit", False: "eager"},
                "torch": {False: "eager", True: "compile"}}
    rows = []
    for backend, row, results, mean_extra in _recipe_rows():
        recipe_extra = results["recipe"]["ratio_vs_plain"] - 1.0
        rows.append(
            [backend, compiled[backend][row["jit"]], f"{results['plain']['ms_per_step']:.1f}"]
            + [format_ratio(results[v]) for v in ("plain_aa",) + RECIPE_METHODS]
            + [f"{mean_extra:+.3f}", format_ratio(results["recipe"]),
               f"{recipe_extra / mean_extra:.2f}", format_ratio(results["recipe_elem"])]
        )
    return markdown_table(head, rows)


def fmix_parts():
    """FMix's parts timed alone and beside the partners' sort, per backend."""
    parts = ("normals", "noise", "threshold", "mask", "perm", "uniform_noise")
    head = ["backend"] + [f"{p}" for p in parts] + [f"{p} + sort" for p in parts if p != "perm"]
    rows = []
    for backend in ("tensorflow", "jax"):
        ms = load(f"fmix_parts_cpu_{backend}.json")["ms"]
        rows.append([backend] + [f"{ms[p]:.2f}" for p in parts]
                    + [f"{ms[p + '+perm']:.2f}" for p in parts if p != "perm"])
    return markdown_table(head, rows)


TABLES = {
    "fmix_parts": fmix_parts,
    "recipe_steps": recipe_steps,
    "methods": methods_reference,
    "flat_arguments": flat_arguments,
    "regmixup": regmixup_table,
    "regmixup_verdicts": regmixup_verdicts,
    "regmixup_selection": regmixup_selection,
    "regmixup_minutes": regmixup_minutes,
    "regmixup_seeds": regmixup_seeds,
    "regmixup_per_seed": regmixup_per_seed,
    "regmixup_seconds_ratio": regmixup_seconds_ratio,
    **{
        f"regmixup_diff_{a}_{b}_{metric}": functools.partial(
            _regmixup_difference, a, b, metric, scale, digits)
        for a, b in (("regmixup", "mixup"), ("regmixup", "baseline"), ("mixup", "baseline"))
        for metric, _, scale, digits in _REGMIXUP_COLUMNS
    },
    "scaling": scaling,
    "scaling_minutes": scaling_minutes,
    "tensorflow_steps": tensorflow_steps,
    "tensorflow_sweep": tensorflow_sweep,
    "sweep_plain_ms": sweep_plain_ms,
    "other_backend_steps": other_backend_steps,
    "torch_compiled_steps": torch_compiled_steps,
    "family_steps": family_steps,
    "backends_side_by_side": backends_side_by_side,
    "torch_mixup_ms": torch_mixup_ms,
    "torch_blend_ms": torch_blend_ms,
    "diagnostics_aa_range": diagnostics_aa_range,
    "main_job": main_job,
    "seeds": seeds_table,
    "seeds_per_seed": seeds_per_seed,
    "seeds_headline": seeds_headline,
    "keras_io_difference": keras_io_difference,
    "jax_mixup_ratio": jax_mixup_ratio,
    "label_noise": label_noise_table,
    "noise_fit_all": noise_fit_all,
    "noise_fit_noisy": noise_fit_noisy,
    "noise_last_baseline": noise_last_baseline,
    "noise_last_mixup": noise_last_mixup,
    "noise_clean_cost": noise_clean_cost,
    "noise_ece_under_noise": noise_ece_under_noise,
    "noise_last_gaps": noise_last_gaps,
    "noise_wall_time": noise_wall_time,
    "long_schedule": long_schedule_table,
    "long_schedule_flatten": long_schedule_flatten_table,
    "long_schedule_minutes": long_schedule_minutes,
    "long_schedule_mixup_lowest_epochs": lambda: _mixup_lowest_loss_epochs("long_schedule"),
    "flatten_mixup_lowest_epochs": lambda: _mixup_lowest_loss_epochs("long_schedule_flatten"),
    "long_schedule_last_accuracy": lambda: _differences(
        "long_schedule", "last", "accuracy", 100, 2),
    "long_schedule_last_nll": lambda: _differences("long_schedule", "last", "loss", 1, 3),
    "flatten_last_accuracy": lambda: _differences(
        "long_schedule_flatten", "last", "accuracy", 100, 2),
    "flatten_best_validation_accuracy": lambda: _differences(
        "long_schedule_flatten", "best_validation", "accuracy", 100, 2),
    "flatten_last_nll": lambda: _differences(
        "long_schedule_flatten", "last", "loss", 1, 3),
    "flatten_last_ece": lambda: _differences(
        "long_schedule_flatten", "last", "ece", 100, 2),
    "long_schedule_flatten_minutes": long_schedule_flatten_minutes,
}


def render(template):
    def replace(match):
        spec = " ".join(match.group(1).split())
        if spec.startswith("table:"):
            return TABLES[spec[len("table:"):]]()
        name, path, fmt = spec.split("|")
        value = lookup(load(name), path)
        if fmt.startswith("excess:"):  # a ratio's excess over 1
            value, fmt = value - 1.0, fmt[len("excess:"):]
        elif fmt.startswith("points:"):  # a fraction in percentage points
            value, fmt = 100 * value, fmt[len("points:"):]
        return format(value, fmt)

    return PLACEHOLDER.sub(replace, template)


def pages():
    """`{page path: its text}` for every template (README.md's page is the
    repository's front page; the others live in docs/)."""
    result = {}
    for name in sorted(os.listdir(TEMPLATES)):
        with open(os.path.join(TEMPLATES, name)) as f:
            page = os.path.join(REPO if name == "README.md" else DOCS, name)
            result[page] = render(f.read())
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 if a page differs")
    args = parser.parse_args(argv)
    stale = []
    for path, text in pages().items():
        current = open(path).read() if os.path.exists(path) else None
        if current == text:
            continue
        stale.append(os.path.relpath(path, REPO))
        if not args.check:
            with open(path, "w") as f:
                f.write(text)
    verb = "out of date" if args.check else "rewritten"
    print(f"{verb}: {', '.join(stale)}" if stale else "every page is up to date")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
