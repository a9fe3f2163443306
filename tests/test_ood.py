"""Out-of-distribution scores: the maximum softmax probability's AUROC."""

import numpy as np
import pytest

from mixup_model import auroc
from mixup_model import max_softmax_probability
from mixup_model import msp_auroc
from tests.helpers import dense_classifier


def pairwise_auroc(in_scores, ood_scores):
    """numpy statement of the AUROC: over every (in, ood) pair, 1 if the
    in-distribution score is higher, 1/2 if equal."""
    a = np.asarray(in_scores)[:, None]
    b = np.asarray(ood_scores)[None, :]
    return float(np.mean((a > b) + 0.5 * (a == b)))


@pytest.mark.parametrize("seed", range(5))
def test_auroc_is_the_pairwise_probability_with_ties(seed):
    rng = np.random.default_rng(seed)
    # Rounded, so that ties occur within and across the two sets.
    in_scores = np.round(rng.normal(0.5, 1.0, 40), 1)
    ood_scores = np.round(rng.normal(0.0, 1.0, 25), 1)
    assert auroc(in_scores, ood_scores) == pytest.approx(pairwise_auroc(in_scores, ood_scores), abs=1e-12)


def test_auroc_extremes():
    assert auroc([3.0, 4.0], [1.0, 2.0]) == 1.0
    assert auroc([1.0, 2.0], [3.0, 4.0]) == 0.0
    assert auroc([1.0, 1.0], [1.0]) == 0.5


def test_bad_scores_name_themselves():
    with pytest.raises(ValueError, match="`ood_scores` must be a non-empty"):
        auroc([1.0], [])
    with pytest.raises(ValueError, match="`in_scores` must be .* 1 not finite"):
        auroc([1.0, np.nan], [0.5])
    with pytest.raises(ValueError, match=r"Received: outputs of shape \(4,\)"):
        max_softmax_probability(np.ones(4))


def test_max_softmax_probability_of_probabilities_and_logits():
    logits = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(max_softmax_probability(probs), probs.max(1))
    np.testing.assert_allclose(max_softmax_probability(logits, from_logits=True), probs.max(1))


def test_msp_auroc_of_a_model():
    model = dense_classifier()
    rng = np.random.default_rng(0)
    x_in = rng.normal(size=(30, 6)).astype("float32")
    x_ood = rng.normal(size=(20, 6)).astype("float32") * 0.1
    expected = pairwise_auroc(
        model.predict(x_in, verbose=0).max(1), model.predict(x_ood, verbose=0).max(1)
    )
    assert msp_auroc(model, x_in, x_ood) == pytest.approx(expected, abs=1e-12)
