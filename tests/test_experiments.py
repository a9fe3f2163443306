"""The experiment scripts: statistics, resuming, label corruption."""

import json

import numpy as np
import pytest

import experiment_stats
import label_noise
import seeds


def test_t_quantiles_match_tables():
    assert experiment_stats.t_quantile_975(1) == 12.706
    assert experiment_stats.t_quantile_975(4) == 2.776
    # Beyond the table the expansion continues it smoothly towards 1.96.
    assert experiment_stats.t_quantile_975(31) == pytest.approx(2.040, abs=1e-3)
    assert experiment_stats.t_quantile_975(60) == pytest.approx(2.000, abs=1e-3)
    assert experiment_stats.t_quantile_975(10**6) == pytest.approx(1.960, abs=1e-3)
    with pytest.raises(ValueError, match="`df`"):
        experiment_stats.t_quantile_975(0)


def test_describe_and_paired_difference():
    d = experiment_stats.describe([1.0, 2.0, 3.0, 4.0, 5.0])
    assert d["mean"] == 3.0 and d["std"] == pytest.approx(np.sqrt(2.5))
    half = 2.776 * np.sqrt(2.5) / np.sqrt(5)
    assert d["ci95"] == pytest.approx([3.0 - half, 3.0 + half])
    paired = experiment_stats.paired_difference([2.0, 3.0, 5.0], [1.0, 1.0, 2.0])
    assert paired["mean"] == pytest.approx(2.0)
    assert np.isnan(experiment_stats.describe([1.0])["std"])


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
