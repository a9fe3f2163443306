"""`python -m experiments.regmixup` and its OOD sets: the choice of α on
validation, the pairing by seed, the verdicts, and the sets themselves."""

import keras
import numpy as np
import pytest
from keras import ops

from experiments import ood_sets
from experiments import regmixup


def _tiles(image, patch):
    side = image.shape[0] // patch
    return sorted(
        image[r * patch:(r + 1) * patch, c * patch:(c + 1) * patch].tobytes()
        for r in range(side) for c in range(side)
    )


def test_patch_shuffle_moves_each_images_own_tiles():
    images = np.random.default_rng(0).random((40, 28, 28, 1)).astype("float32")
    shuffled = ood_sets.patch_shuffled(images, patch=7, seed=3)
    assert shuffled.shape == images.shape and shuffled.dtype == images.dtype
    for before, after in zip(images, shuffled):
        assert _tiles(before, 7) == _tiles(after, 7)  # the same 16 tiles
        assert not np.array_equal(before, after)  # never left in place
    np.testing.assert_array_equal(shuffled, ood_sets.patch_shuffled(images, 7, seed=3))
    assert not np.array_equal(shuffled, ood_sets.patch_shuffled(images, 7, seed=4))
    with pytest.raises(ValueError, match="multiples of `patch`"):
        ood_sets.patch_shuffled(images, patch=5)


def test_digits_are_upscaled_as_bilinear_resize_does_and_centred_like_mnist():
    from sklearn.datasets import load_digits

    digits = ood_sets.digits_28x28()
    assert digits.shape == (1797, 28, 28, 1) and digits.dtype == np.float32
    assert digits.min() == 0.0 and digits.max() == 1.0
    # MNIST's layout: the digit in the central 20×20, a 4-pixel black border.
    assert not digits[:, :4].any() and not digits[:, 24:].any()
    assert not digits[:, :, :4].any() and not digits[:, :, 24:].any()
    # The 8×8 → 20×20 step is the backend's bilinear resize (half-pixel
    # centres, no antialiasing when upscaling).
    source = (load_digits().images[:50, :, :, None] / 16.0).astype("float32")
    expected = ops.convert_to_numpy(
        ops.image.resize(source, (20, 20), interpolation="bilinear")
    )
    np.testing.assert_allclose(digits[:50, 4:24, 4:24], expected, atol=1e-5)


def _curves(val_accuracy, val_loss):
    return {"loss": [0.5], "accuracy": [0.8], "val_loss": [val_loss],
            "val_accuracy": [val_accuracy]}


def _fake_train_run(calls, weights):
    """Runs whose scores depend on the arm and seed: RegMixup α = 20 wins on
    validation, and is better than mixup by 0.01 + 0.001·seed in accuracy."""

    def train_run(arm, alpha, data, ood, initial_weights, args, log_dir):
        calls.append((args.seed, arm, alpha))
        weights.setdefault(args.seed, []).append(initial_weights)
        gain = {("baseline", None): 0.0, ("mixup", 0.2): 0.01,
                ("regmixup", 10.0): 0.015, ("regmixup", 20.0): 0.02}
        g = gain[(arm, alpha if arm != "baseline" else None)]
        g += 0.001 * args.seed * (arm == "regmixup")
        last = {"accuracy": 0.80 + g, "loss": 0.5 - g, "ece": 0.05 - g,
                "far_ood_auroc": 0.9 + g, "near_ood_auroc": 0.7 - g}
        return {"arm": arm, "alpha": alpha, "curves": _curves(0.8 + g, 0.5 - g),
                "last": last, "seconds": 1.0}

    return train_run


def test_alpha_is_chosen_on_validation_and_arms_are_paired_by_seed(tmp_path, monkeypatch):
    calls, weights = [], {}
    monkeypatch.setattr(regmixup, "train_run", _fake_train_run(calls, weights))
    monkeypatch.setattr(regmixup.job, "load_data", lambda *args: (None, None, (None, None)))
    monkeypatch.setattr(regmixup.ood_sets, "digits_28x28", lambda: None)
    monkeypatch.setattr(regmixup.ood_sets, "patch_shuffled", lambda x: None)
    out = str(tmp_path / "regmixup.json")
    regmixup.main(["--seeds", "1", "--out", out])
    record = regmixup.main(["--seeds", "2", "3", "--out", out])
    # The selection seed (1) runs every candidate; later seeds run only the
    # chosen alpha; seed 1 is not trained again.
    assert calls == [
        (1, "baseline", None), (1, "mixup", 0.2), (1, "regmixup", 10.0),
        (1, "regmixup", 20.0),
        (2, "baseline", None), (2, "mixup", 0.2), (2, "regmixup", 20.0),
        (3, "baseline", None), (3, "mixup", 0.2), (3, "regmixup", 20.0),
    ]
    # Every arm of a seed starts from the same weights; seeds differ.
    for seed, arms in weights.items():
        for other in arms[1:]:
            for a, b in zip(arms[0], other):
                np.testing.assert_array_equal(a, b)
    assert not np.array_equal(weights[2][0][0], weights[3][0][0])
    summary = record["summary"]
    assert summary["seeds"] == [1, 2, 3] and summary["regmixup_alpha"] == 20.0
    assert summary["selection"]["10"]["val_accuracy"] == pytest.approx(0.816)
    diff = summary["regmixup_minus_mixup"]["accuracy"]
    assert diff["mean"] == pytest.approx(0.012)  # 0.01 + 0.001 * mean seed
    assert diff["std"] == pytest.approx(0.001)
    assert regmixup.verdict(diff, higher_is_better=True) == "better"
    near = summary["regmixup_minus_baseline"]["near_ood_auroc"]
    assert regmixup.verdict(near, higher_is_better=True) == "worse"
    assert "regmixup − mixup" in regmixup.format_summary(record)
    with pytest.raises(SystemExit, match="settings"):
        regmixup.main(["--seeds", "4", "--eta", "0.5", "--out", out])


def test_verdict_needs_the_interval_to_exclude_zero():
    assert regmixup.verdict({"ci95": [0.01, 0.03]}, True) == "better"
    assert regmixup.verdict({"ci95": [0.01, 0.03]}, False) == "worse"
    assert regmixup.verdict({"ci95": [-0.03, -0.01]}, False) == "better"
    assert regmixup.verdict({"ci95": [-0.01, 0.03]}, True) == "no difference shown"
    assert regmixup.verdict({"ci95": [float("nan")] * 2}, True) == "no difference shown"


def test_refuses_nonpositive_settings(capsys):
    for flag in ("--eta", "--mixup-alpha", "--regmixup-alphas"):
        with pytest.raises(SystemExit):
            regmixup.parse_args([flag, "0"])
        assert "must be > 0" in capsys.readouterr().err


@pytest.mark.skipif(
    keras.backend.backend() != "tensorflow",
    reason="the recorded experiments run on TensorFlow; RegMixup's step is "
    "tested on every backend (test_regmixup.py)",
)
def test_runs_on_a_subset(data_dir, tmp_path):
    out = str(tmp_path / "regmixup.json")
    record = regmixup.main([
        "--seeds", "1", "--epochs", "1", "--train-size", "256", "--regmixup-alphas", "10",
        "--data-dir", data_dir, "--out", out,
    ])
    assert sorted(record["runs"]) == ["1/baseline", "1/mixup", "1/regmixup_alpha10"]
    for run in record["runs"].values():
        last = run["last"]
        assert 0.0 <= last["accuracy"] <= 1.0 and 0.0 < last["loss"] < 10.0
        assert 0.0 <= last["far_ood_auroc"] <= 1.0 and 0.0 <= last["near_ood_auroc"] <= 1.0
    summary = record["summary"]
    assert summary["seeds"] == [1] and summary["regmixup_alpha"] == 10.0
    # Each arm is scored with its own model.
    assert len({run["last"]["far_ood_auroc"] for run in record["runs"].values()}) == 3
