"""Out-of-distribution detection by the maximum softmax probability.

The baseline detector of Hendrycks & Gimpel (ICLR 2017), and the one the
RegMixup paper reports: an input's score is the model's largest class
probability, and a detector separates in-distribution inputs (high scores)
from out-of-distribution ones (low scores). Its quality is the area under
the ROC curve (AUROC) of that score with in-distribution as the positive
class: the probability that a random in-distribution input scores higher
than a random OOD one, ties counting one half (the Mann-Whitney U
statistic, divided by the number of pairs). 0.5 is chance, 1 perfect.
"""

import numpy as np
from keras import ops


def max_softmax_probability(outputs, from_logits=False):
    """Each example's largest class probability.

    Args:
        outputs: `(batch, classes)` probabilities (a softmax output), or
            logits with `from_logits=True`.
        from_logits: Whether `outputs` are logits.

    Returns:
        A float64 numpy array `(batch,)`.

    Raises:
        ValueError: `outputs` is not `(batch, classes)` with two or more
            classes.

    Example:

    >>> max_softmax_probability(np.array([[0.7, 0.2, 0.1], [0.4, 0.5, 0.1]])).tolist()
    [0.7, 0.5]
    """
    outputs = ops.convert_to_numpy(outputs).astype("float64")
    if outputs.ndim != 2 or outputs.shape[1] < 2:
        raise ValueError(
            "The maximum softmax probability needs class scores of shape "
            f"(batch, classes) with 2 or more classes. Received: outputs of "
            f"shape {outputs.shape}."
        )
    if from_logits:
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        outputs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return outputs.max(axis=1)


def auroc(in_scores, ood_scores):
    """AUROC of separating in-distribution (positive, higher scores) from
    OOD examples: `P(in > ood) + P(in == ood) / 2` over all pairs.

    Args:
        in_scores: 1-D scores of in-distribution examples.
        ood_scores: 1-D scores of out-of-distribution examples.

    Returns:
        A float in [0, 1].

    Raises:
        ValueError: Either set is empty, or a score is not finite.

    Example:

    >>> auroc([0.9, 0.8, 0.6], [0.7, 0.5])
    0.8333333333333334
    """
    in_scores = np.asarray(in_scores, "float64").ravel()
    ood_scores = np.asarray(ood_scores, "float64").ravel()
    for name, scores in (("in_scores", in_scores), ("ood_scores", ood_scores)):
        if scores.size == 0 or not np.all(np.isfinite(scores)):
            raise ValueError(
                f"`{name}` must be a non-empty set of finite scores. "
                f"Received: {name} of {scores.size} values, "
                f"{int(np.sum(~np.isfinite(scores)))} not finite."
            )
    # Mann-Whitney: the in-distribution scores' rank sum among all scores,
    # ties given their mean rank.
    scores = np.concatenate([in_scores, ood_scores])
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    first_rank = np.concatenate([[0], np.cumsum(counts)[:-1]]) + 1
    mean_rank = first_rank + (counts - 1) / 2.0
    rank_sum = mean_rank[inverse[: in_scores.size]].sum()
    u = rank_sum - in_scores.size * (in_scores.size + 1) / 2.0
    return float(u / (in_scores.size * ood_scores.size))


def msp_auroc(model, x_in, x_ood, batch_size=256, from_logits=False):
    """AUROC of `model`'s maximum softmax probability, `x_in` against `x_ood`.

    Args:
        model: A Keras model whose output is `(batch, classes)`
            probabilities (or logits, with `from_logits=True`).
        x_in: In-distribution inputs (for example the clean test set).
        x_ood: Out-of-distribution inputs.
        batch_size: Passed to `model.predict`.
        from_logits: Whether the model outputs logits.

    Returns:
        A float in [0, 1]: 1 when every in-distribution input is more
        confident than every OOD input.

    Example:

    ```python
    model = MixupModel(build_cnn(), alpha=20.0, regmixup_eta=1.0)
    ...  # compile and fit on Fashion-MNIST
    far = msp_auroc(model, x_test, digits_28x28)  # another dataset
    ```
    """
    def scores(x):
        outputs = model.predict(x, batch_size=batch_size, verbose=0)
        return max_softmax_probability(outputs, from_logits=from_logits)

    return auroc(scores(x_in), scores(x_ood))
