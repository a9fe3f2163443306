"""The experiments package: statistics, resuming, label corruption, the long
schedule."""

import json

import numpy as np
import pytest

from experiments import label_noise
from experiments import long_schedule
from experiments import scoring
from experiments import seeds
from experiments import stats


def test_t_quantiles_match_tables():
    assert stats.t_quantile_975(1) == 12.706
    assert stats.t_quantile_975(4) == 2.776
    # Beyond the table the expansion continues it smoothly towards 1.96.
    assert stats.t_quantile_975(31) == pytest.approx(2.040, abs=1e-3)
    assert stats.t_quantile_975(60) == pytest.approx(2.000, abs=1e-3)
    assert stats.t_quantile_975(10**6) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError, match="`df`"):
        stats.t_quantile_975(0)


def test_describe_and_paired_difference():
    d = stats.describe([1.0, 2.0, 3.0, 4.0, 5.0])
    assert d["mean"] == 3.0 and d["std"] == pytest.approx(np.sqrt(2.5))
    half = 2.776 * np.sqrt(2.5) / np.sqrt(5)
    assert d["ci95"] == pytest.approx([3.0 - half, 3.0 + half])
    paired = stats.paired_difference([2.0, 3.0, 5.0], [1.0, 1.0, 2.0])
    assert paired["mean"] == pytest.approx(2.0)
    assert np.isnan(stats.describe([1.0])["std"])


def _fake_run(calls):
    def run(args):
        calls.append(args.seed)
        base = 0.8 + 0.01 * args.seed
        shifts = [("mixup", 0.01), ("baseline", 0.0)]
        if args.keras_io_reference:
            shifts.append(("keras.io", 0.02 + 0.001 * args.seed))
        return {
            arm: {"test_accuracy": base + shift, "test_loss": 0.5 - shift, "test_ece": 0.02}
            for arm, shift in shifts
        }

    return run


def test_seeds_script_saves_each_seed_and_resumes(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(seeds.job, "run", _fake_run(calls))
    out = str(tmp_path / "seeds.json")
    seeds.main(["--seeds", "1", "2", "--out", out])
    record = seeds.main(["--seeds", "1", "2", "3", "--out", out])
    assert calls == [1, 2, 3]  # seeds 1 and 2 were not trained again
    with open(out) as f:
        saved = json.load(f)
    assert sorted(saved["runs"]) == ["1", "2", "3"]
    diff = record["summary"]["mixup_minus_baseline"]["test_accuracy"]
    assert diff["mean"] == pytest.approx(0.01) and diff["std"] == pytest.approx(0.0, abs=1e-9)
    assert record["summary"]["mixup"]["test_accuracy"]["mean"] == pytest.approx(0.83)
    # Runs with other settings never mix into one summary.
    with pytest.raises(SystemExit, match="other --out|another --out"):
        seeds.main(["--seeds", "4", "--epochs", "3", "--out", out])
    assert "mixup − baseline" in seeds.format_summary(record["summary"], record["settings"])


def test_seeds_script_compares_with_the_keras_io_pipeline(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(seeds.job, "run", _fake_run(calls))
    out = str(tmp_path / "seeds.json")
    record = seeds.main(["--seeds", "1", "2", "3", "--keras-io-reference", "--out", out])
    assert record["settings"]["keras_io_reference"] is True
    diff = record["summary"]["mixup_minus_keras_io"]["test_accuracy"]
    # Per seed, mixup − keras.io = 0.01 − (0.02 + 0.001·seed).
    assert diff["mean"] == pytest.approx(-0.012)
    low, high = diff["ci95"]
    assert low < -0.012 < high < 0  # the interval excludes 0 here
    assert record["summary"]["keras.io"]["test_accuracy"]["mean"] == pytest.approx(0.842)
    table = seeds.format_summary(record["summary"], record["settings"])
    assert "| keras.io |" in table and "| mixup − keras.io |" in table
    # A two-arm record is not extended with a third arm.
    with pytest.raises(SystemExit, match="another --out"):
        seeds.main(["--seeds", "4", "--out", out])


def test_corrupt_labels_changes_exactly_the_fraction_to_other_classes():
    labels = np.random.default_rng(0).integers(0, 10, size=1000)
    noisy, corrupted = label_noise.corrupt_labels(labels, 0.4, seed=3)
    assert corrupted.sum() == 400
    assert np.all(noisy[corrupted] != labels[corrupted])
    np.testing.assert_array_equal(noisy[~corrupted], labels[~corrupted])
    # Wrong classes are spread over all 9 others.
    offsets = (noisy[corrupted] - labels[corrupted]) % 10
    assert set(offsets) == set(range(1, 10))
    again, _ = label_noise.corrupt_labels(labels, 0.4, seed=3)
    np.testing.assert_array_equal(noisy, again)
    with pytest.raises(ValueError, match=r"noise `fraction` must be in \[0, 1\)"):
        label_noise.corrupt_labels(labels, 1.0, seed=0)


def test_label_noise_script_runs_on_a_subset(data_dir, tmp_path):  # noqa: F811
    out = str(tmp_path / "noise.json")
    args = [
        "--noise", "0.5", "--alphas", "8", "--epochs", "2",
        "--train-size", "1000", "--data-dir", data_dir, "--out", out,
    ]
    record = label_noise.main(args)
    runs = record["runs"]
    assert sorted(runs) == ["0.5/baseline", "0.5/mixup_alpha8"]
    for run in runs.values():
        assert len(run["test_accuracy_per_epoch"]) == 2
        assert run["corrupted_fraction"] == 0.5
        assert 0.0 <= run["last_test_ece"] <= 1.0
    assert label_noise.main(args)["runs"] == runs  # resumed: nothing retrained
    curves = tmp_path / "tensorboard"
    assert sorted(p.name for p in curves.iterdir()) == [
        "noise50_baseline", "noise50_mixup_alpha8"
    ]
    assert list((curves / "noise50_baseline").glob("events.out.tfevents.*"))


def test_scores_match_their_definitions():
    ids = np.array([0, 1, 2, 0])
    probs = np.array(
        [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.5, 0.3, 0.2], [0.0, 1.0, 0.0]],
        dtype="float32",
    )
    # Class ids and one-hot labels score alike.
    assert scoring.score(probs, ids) == scoring.score(probs, np.eye(3)[ids])
    scores = scoring.score(probs, ids)
    assert scores["accuracy"] == 0.5
    # The last example gives its true class 0: clipped to 1e-7, as Keras does.
    nll = -np.mean(np.log([0.7, 0.8, 0.2, 1e-7]))
    assert scores["loss"] == pytest.approx(nll, rel=1e-5)
    # 15 bins: confidences 0.7, 0.8, 0.5 and 1.0 sit in four bins of one.
    ece = (abs(0.7 - 1) + abs(0.8 - 1) + abs(0.5 - 0) + abs(1.0 - 0)) / 4
    assert scores["ece"] == pytest.approx(ece, rel=1e-5)


def _curves(val_accuracy, val_loss, test_accuracy):
    return {
        "val_accuracy": val_accuracy,
        "val_loss": val_loss,
        "test_accuracy": test_accuracy,
        "test_loss": [1.0 - a for a in test_accuracy],
        "test_ece": [0.01 * (i + 1) for i in range(len(test_accuracy))],
    }


def test_long_schedule_reports_each_chosen_epoch():
    run = long_schedule.summarize_run(
        _curves([0.80, 0.90, 0.85, 0.86], [0.5, 0.3, 0.4, 0.6], [0.79, 0.88, 0.89, 0.84])
    )
    assert run["last"] == {"epoch": 4, "accuracy": 0.84, "loss": pytest.approx(0.16),
                           "ece": 0.04}
    assert run["best_validation"]["epoch"] == 2  # chosen without the test set
    assert run["best_validation"]["accuracy"] == 0.88
    assert run["best_test"]["epoch"] == 3 and run["best_test"]["accuracy"] == 0.89
    assert run["lowest_validation_loss_epoch"] == 2


def _fake_train_run(calls):
    def train_run(alpha, data, initial_weights, args, log_dir):
        calls.append((args.seed, alpha))
        gain = {0.0: 0.0, 0.2: 0.01, 1.0: 0.02}[alpha] + 0.001 * args.seed * alpha
        test = [0.80 + gain, 0.85 + gain, 0.84 + gain]
        run = long_schedule.summarize_run(_curves([0.8, 0.9, 0.85], [0.4, 0.3, 0.35], test))
        run.update(alpha=alpha, seconds=1.0)
        return run

    return train_run


def test_long_schedule_resumes_and_pairs_arms_by_seed(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(long_schedule, "train_run", _fake_train_run(calls))
    monkeypatch.setattr(long_schedule.job, "load_data", lambda *args: None)
    out = str(tmp_path / "long.json")
    common = ["--alphas", "0.2", "1.0", "--epochs", "3", "--out", out]
    long_schedule.main(["--seeds", "1"] + common)
    record = long_schedule.main(["--seeds", "1", "2", "3"] + common)
    # Seed 1 was not trained again; seeds run whole, baseline first.
    assert calls == [(s, a) for s in (1, 2, 3) for a in (0.0, 0.2, 1.0)]
    summary = record["summary"]
    assert summary["seeds"] == [1, 2, 3]
    diff = summary["mixup_alpha1_minus_baseline"]["last"]["accuracy"]
    assert diff["mean"] == pytest.approx(0.02 + 0.002)  # mean of 0.021, 0.022, 0.023
    assert diff["std"] == pytest.approx(0.001)
    assert summary["baseline"]["best_validation"]["epoch"]["mean"] == 2
    assert "mixup_alpha0.2 − baseline" in long_schedule.format_summary(record)
    with pytest.raises(SystemExit, match="settings"):
        long_schedule.main(["--seeds", "4", "--alphas", "0.4", "--out", out])


def test_long_schedule_leaves_unfinished_seeds_out_of_the_comparison():
    run = long_schedule.summarize_run(_curves([0.8], [0.4], [0.8]))
    record = {
        "settings": {"alphas": [0.2]},
        "runs": {"1/baseline": run, "1/mixup_alpha0.2": run, "2/baseline": run},
    }
    assert long_schedule.summarize(record)["seeds"] == [1]


def test_long_schedule_refuses_a_zero_alpha(capsys):
    with pytest.raises(SystemExit):
        long_schedule.parse_args(["--alphas", "0"])
    assert "--alphas must be > 0" in capsys.readouterr().err


def test_long_schedule_runs_on_a_subset(data_dir, tmp_path):  # noqa: F811
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = str(tmp_path / "long.json")
    args = ["--seeds", "1", "--alphas", "0.5", "--epochs", "2", "--train-size", "512",
            "--model", "flatten", "--data-dir", data_dir, "--out", out]
    record = long_schedule.main(args)
    assert record["settings"]["model"] == "flatten"
    runs = record["runs"]
    assert sorted(runs) == ["1/baseline", "1/mixup_alpha0.5"]
    for run in runs.values():
        assert len(run["curves"]["test_accuracy"]) == 2
        assert run["last"]["epoch"] == 2 and 0.0 < run["last"]["loss"] < 10.0
    assert record["summary"]["seeds"] == [1]
    # The test curves reach TensorBoard beside Keras's own.
    events = EventAccumulator(str(tmp_path / "tensorboard" / "mixup_alpha0.5_seed1" / "train"))
    events.Reload()
    assert {"epoch_test_accuracy", "epoch_test_loss", "epoch_test_ece"} <= set(
        events.Tags()["tensors"]
    )
