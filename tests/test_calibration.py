"""ExpectedCalibrationError against a direct numpy computation."""

import keras
import numpy as np
import pytest

from mixup_model import ExpectedCalibrationError
from mixup_model import MixupModel
from tests.helpers import classification_data
from tests.helpers import dense_classifier


def numpy_ece(labels, probs, num_bins, weights=None):
    """ECE written out bin by bin, as in Guo et al. (2017)."""
    weights = np.ones(len(labels)) if weights is None else np.asarray(weights)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(float)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    ece = 0.0
    for b in range(num_bins):
        low, high = edges[b], edges[b + 1]
        members = (confidence > low) & (confidence <= high)
        if b == 0:
            members |= confidence == 0.0
        if not members.any():
            continue
        w = weights[members]
        accuracy = np.sum(w * correct[members]) / w.sum()
        mean_confidence = np.sum(w * confidence[members]) / w.sum()
        ece += w.sum() / weights.sum() * abs(accuracy - mean_confidence)
    return ece


def _random_probs(rng, n, k, temperature):
    logits = rng.normal(size=(n, k)) * temperature
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return (e / e.sum(axis=1, keepdims=True)).astype("float32")


@pytest.mark.parametrize("num_bins", [1, 10, 15])
def test_matches_numpy_over_several_batches(num_bins):
    rng = np.random.default_rng(num_bins)
    probs = _random_probs(rng, 500, 5, temperature=2.0)
    labels = rng.integers(0, 5, size=500)
    metric = ExpectedCalibrationError(num_bins=num_bins)
    for start in range(0, 500, 128):  # accumulated, not averaged per batch
        metric.update_state(labels[start : start + 128], probs[start : start + 128])
    expected = numpy_ece(labels, probs, num_bins)
    assert expected > 0.01
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-5, atol=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_one_hot_targets_logits_and_sample_weights():
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(300, 4)).astype("float32") * 3
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = rng.integers(0, 4, size=300)
    weights = rng.uniform(0, 2, size=300).astype("float32")
    metric = ExpectedCalibrationError(num_bins=10, from_logits=True)
    metric.update_state(np.eye(4)[labels], logits, sample_weight=weights[:, None])
    np.testing.assert_allclose(
        float(metric.result()), numpy_ece(labels, probs, 10, weights), rtol=1e-5
    )


def test_binary_single_unit_output():
    rng = np.random.default_rng(4)
    p = rng.uniform(size=(200, 1)).astype("float32")
    labels = rng.integers(0, 2, size=200)
    metric = ExpectedCalibrationError(num_bins=5)
    metric.update_state(labels[:, None], p)
    two_class = np.concatenate([1 - p, p], axis=1)
    np.testing.assert_allclose(
        float(metric.result()), numpy_ece(labels, two_class, 5), rtol=1e-5
    )


def test_confidence_on_a_bin_edge_goes_to_the_lower_bin():
    # Confidence exactly 0.5 with 2 bins is in (0, 0.5]: bin 0.
    metric = ExpectedCalibrationError(num_bins=2)
    metric.update_state(np.array([0, 0]), np.array([[0.5, 0.5], [1.0, 0.0]]))
    np.testing.assert_allclose(metric.bin_counts.numpy(), [1.0, 1.0])


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, "15"])
def test_bad_num_bins_is_named(bad):
    with pytest.raises(ValueError, match="`num_bins` must be an int >= 1"):
        ExpectedCalibrationError(num_bins=bad)


def test_works_in_compile_and_evaluate_and_serializes(tmp_path):
    x, y = classification_data(n=200, seed=5)
    model = MixupModel(dense_classifier(), alpha=0.2, seed=0)
    model.compile(
        "adam",
        "sparse_categorical_crossentropy",
        metrics=[ExpectedCalibrationError(num_bins=7)],
    )
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    logs = model.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    probs = model.predict(x, verbose=0)
    np.testing.assert_allclose(logs["ece"], numpy_ece(y, probs, 7), rtol=1e-4, atol=1e-6)
    path = str(tmp_path / "m.keras")
    model.save(path)
    restored = keras.models.load_model(path)
    again = restored.evaluate(x, y, batch_size=64, return_dict=True, verbose=0)
    np.testing.assert_allclose(again["ece"], logs["ece"], rtol=1e-6)
    config = ExpectedCalibrationError(num_bins=7, from_logits=True).get_config()
    assert ExpectedCalibrationError.from_config(config).num_bins == 7
    assert config["from_logits"] is True
