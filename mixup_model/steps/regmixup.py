"""RegMixup (Pinto et al., NeurIPS 2022): mixup as a regulariser of the
clean loss.

Each step trains on the clean batch and on its mixed copy together, in one
forward pass over the two concatenated along the batch axis (so that batch
normalisation sees both, as in the official code, `FrancescoPinto/RegMixup`,
`models/regmixup.py`), with the loss

    L(clean) + eta * L(mixed)

as the paper writes it. (The official code takes one cross-entropy mean over
the 2B concatenated examples, `(L(clean) + L(mixed)) / 2`: eta = 1 and half
the scale, which Adam does not see and SGD sees as half the learning rate.)
The paper uses a large alpha, Beta(20, 20) on CIFAR-10 and Beta(10, 10) on
CIFAR-100, so the mixed half lies near the middle of its pairs.

A pipeline cannot do this: the loss covers both halves of one pass. Here the
step concatenates the halves before the forward pass (`begin`) and splits
the outputs after it, for the loss (`loss`) and the metrics, which are the
clean half's (`clean_outputs`).
"""

from keras import ops
from keras import tree

from mixup_model.arguments import check_nonnegative
from mixup_model.mixing import batch_size_of
from mixup_model.params import identity_params
from mixup_model.targets import mix_targets


def validate_regmixup_eta(value):
    """Returns `value` as a float >= 0 (0 turns RegMixup off), or raises."""
    return check_nonnegative("regmixup_eta", value)


def clean_and_mixed(clean, mixed):
    """The model's input: each clean tensor followed by its mixed copy along
    the batch axis (`2 * batch` examples).

    A clean input that mixing cast (`uint8` images blend in float) is cast
    the same way; inputs that are not mixed (ids, masks) are repeated.
    """

    def concatenate(a, b):
        b = ops.convert_to_tensor(b)
        return ops.concatenate([ops.cast(a, b.dtype), b], axis=0)

    return tree.map_structure(concatenate, clean, mixed)


def _rows(t, start, stop):
    """`t[start:stop]`, keeping the logits that Keras's softmax and sigmoid
    attach to their outputs (`_keras_logits`): on TensorFlow its
    cross-entropies use them for an exact log-softmax, and without them clip
    the probabilities at 1e-7."""
    rows = t[start:stop]
    logits = getattr(t, "_keras_logits", None)
    if logits is not None:
        try:
            rows._keras_logits = logits[start:stop]
        except AttributeError:  # a tensor type without attributes
            pass
    return rows


def split_clean_and_mixed(outputs, batch_size):
    """`(clean, mixed)`: each output's first `batch_size` examples and the
    rest, for outputs of the concatenated batch of `clean_and_mixed`."""
    clean = tree.map_structure(lambda t: _rows(t, None, batch_size), outputs)
    mixed = tree.map_structure(lambda t: _rows(t, batch_size, None), outputs)
    return clean, mixed


def mix_second_half(outputs, batch_size, mix):
    """`outputs` of the concatenated batch with `mix` applied to the second
    (mixed) half only: manifold mixup's layer in a RegMixup step."""
    clean, rest = split_clean_and_mixed(outputs, batch_size)
    return clean_and_mixed(clean, mix(rest))


def begin(step, clean, mixed, batch_size):
    """Marks `step` as a RegMixup step of `batch_size` clean examples and
    returns the model's input: the clean batch followed by its mixed copy."""
    step.clean_size = batch_size
    return clean_and_mixed(clean, mixed)


def clean_outputs(outputs, step):
    """The clean half of the step's outputs (what the metrics see)."""
    return split_clean_and_mixed(outputs, step.clean_size)[0]


def clean_loss_terms(y, y_pred, sample_weight, label_smoothing, target_threshold):
    """The clean half's loss terms: its own targets, smoothed and
    thresholded as the mixed ones are. One term, or with sample weights and
    smoothing or a threshold two, the second with weights all 0 (the form
    `mix_targets` gives them with unmixed `MixParams`)."""
    if not (label_smoothing or target_threshold is not None):
        return [(y, sample_weight)]
    targets = mix_targets(
        y, y_pred, sample_weight, identity_params(batch_size_of(y)),
        label_smoothing=label_smoothing,
        target_threshold=target_threshold,
    )
    return targets.loss_terms


def loss(step, y, y_pred, sample_weight, *, eta, loss_of_terms, mixed_loss_terms,
         label_smoothing=0.0, target_threshold=None):
    """`L(clean) + eta * L(mixed)` of a RegMixup step, each half with the
    compiled loss and the sample weights.

    Args:
        step: The `MixedStep` (its `clean_size` splits the outputs).
        y, y_pred, sample_weight: The step's targets, outputs (of both
            halves) and weights.
        eta: RegMixup's weight of the mixed loss.
        loss_of_terms: `f(terms, y_pred, regularization)`: the compiled loss
            summed over `[(y, sample_weight)]` terms, with the model's
            regularization and `add_loss` terms if `regularization`.
        mixed_loss_terms: `f(y, y_pred, sample_weight)`: the mixed half's
            loss terms.
        label_smoothing, target_threshold: As the mixed targets take them.
    """
    clean_pred, mixed_pred = split_clean_and_mixed(y_pred, step.clean_size)
    clean_terms = clean_loss_terms(y, clean_pred, sample_weight, label_smoothing, target_threshold)
    clean = loss_of_terms(clean_terms, clean_pred, regularization=True)
    mixed = loss_of_terms(
        mixed_loss_terms(y, mixed_pred, sample_weight), mixed_pred, regularization=False
    )
    return clean + eta * mixed
