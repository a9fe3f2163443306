"""Sampling mixup parameters and applying them to inputs and targets.

The split follows timm's `Mixup`: `sample_mix_params` draws the random
quantities of one batch (a weight lambda per example and a partner
permutation), and the other functions apply them. Everything here is plain
TensorFlow that runs inside an XLA-compiled train step.
"""

import dataclasses
import typing

import keras
import tensorflow as tf
from keras import tree

from mixup_model.beta import sample_beta

LAMBDA_MODES = ("per_sample", "per_batch")


def validate_lambda_mode(lambda_mode):
    """Returns `lambda_mode`, or raises a ValueError naming the choices."""
    if lambda_mode not in LAMBDA_MODES:
        raise ValueError(
            f"`lambda_mode` must be one of {LAMBDA_MODES}, "
            f"got {lambda_mode!r}."
        )
    return lambda_mode


class MixParams(typing.NamedTuple):
    """The random draw for one batch (a tuple, so it crosses `tf.function`).

    Attributes:
        lam: float32 tensor of shape `(batch,)`: the weight of each example
            itself; its partner gets `1 - lam`.
        perm: int32 tensor of shape `(batch,)`: example `i` is mixed with
            example `perm[i]`. Always a permutation of the batch.
    """

    lam: tf.Tensor
    perm: tf.Tensor


def sample_mix_params(batch_size, alpha, seed, lambda_mode="per_sample"):
    """Draws lambda ~ Beta(alpha, alpha) and a random partner permutation.

    Args:
        batch_size: Number of examples, a Python int or scalar int tensor.
        alpha: Beta concentration, a float > 0.
        seed: A stateless seed, an integer tensor of shape `(2,)`.
        lambda_mode: `"per_sample"` draws one lambda per example (as the
            keras.io example does); `"per_batch"` draws one lambda for the
            whole batch (as the paper's reference code does).

    Returns:
        A `MixParams`.
    """
    validate_lambda_mode(lambda_mode)
    lam_seed, perm_seed = tf.unstack(
        tf.random.experimental.stateless_split(seed, num=2)
    )
    batch_size = tf.convert_to_tensor(batch_size, tf.int32)
    if lambda_mode == "per_sample":
        lam = sample_beta(tf.reshape(batch_size, [1]), alpha, alpha, lam_seed)
    else:
        lam = tf.fill(
            tf.reshape(batch_size, [1]),
            sample_beta([], alpha, alpha, lam_seed),
        )
    # argsort of i.i.d. uniforms is a uniformly random permutation (XLA has
    # no shuffle kernel, but it sorts).
    perm = tf.argsort(
        tf.random.stateless_uniform(
            tf.reshape(batch_size, [1]), seed=perm_seed
        )
    )
    return MixParams(lam=lam, perm=perm)


def _per_example(lam, like):
    """Reshapes `lam` of shape (batch,) to broadcast against `like`."""
    rank = len(like.shape)
    return tf.reshape(lam, [-1] + [1] * (rank - 1)) if rank else lam


def blend(x, params):
    """Returns `lam * x + (1 - lam) * x[perm]` for one tensor of any rank.

    Integer and boolean inputs are cast to `keras.config.floatx()` first:
    blending uint8 pixels in integer arithmetic would truncate. Floating
    inputs keep their dtype (float16/bfloat16 included); lambda is cast to it.
    Every result lies between its two sources: rounding can overshoot them
    by an ulp (often in float16/bfloat16), so the result is clipped to them.
    """
    x = tf.convert_to_tensor(x)
    if not x.dtype.is_floating:
        x = tf.cast(x, keras.config.floatx())
    lam = tf.cast(_per_example(params.lam, x), x.dtype)
    partner = tf.gather(x, params.perm)
    mixed = lam * x + (1.0 - lam) * partner
    return tf.clip_by_value(
        mixed, tf.minimum(x, partner), tf.maximum(x, partner)
    )


def mix_inputs(x, params):
    """Mixes a model input: a tensor, or a nested structure of tensors.

    A single tensor is always blended (integers are cast to float). In a
    nested structure, floating tensors are blended and the others (token
    ids, masks) are kept from the primary example.
    """
    if not tree.is_nested(x):
        return blend(x, params)

    def mix_leaf(leaf):
        leaf = tf.convert_to_tensor(leaf)
        return blend(leaf, params) if leaf.dtype.is_floating else leaf

    return tree.map_structure(mix_leaf, x)


def batch_size_of(x):
    """The dynamic batch size of a (possibly nested) input."""
    first = next(leaf for leaf in tree.flatten(x) if leaf is not None)
    return tf.shape(first)[0]


# How a target tensor relates to the model output it is compared with.
DENSE = "dense"  # same shape as the output: one-hot, soft, binary, regression
CLASS_IDS = "class_ids"  # integer class indices for a sparse loss


def _same_dims(a, b):
    return len(a) == len(b) and all(
        i is None or j is None or i == j for i, j in zip(a, b)
    )


def target_kind(y, y_pred):
    """Classifies one target against its output, or raises a clear error."""
    y_dims = tuple(y.shape)[1:]
    out_dims = tuple(y_pred.shape)[1:]
    num_outputs = out_dims[-1] if out_dims else None
    if _same_dims(y_dims, out_dims):
        return DENSE
    if num_outputs == 1 and _same_dims(y_dims, out_dims[:-1]):
        return DENSE  # e.g. binary labels (B,) for a sigmoid output (B, 1)
    if out_dims and (
        _same_dims(y_dims, out_dims[:-1])
        or _same_dims(y_dims, out_dims[:-1] + (1,))
    ):
        return CLASS_IDS
    out_shape = (None,) + out_dims
    raise ValueError(
        f"MixupModel cannot mix targets of shape {tuple(y.shape)} for a "
        f"model output of shape {out_shape}. Expected integer class labels "
        f"of shape {(None,) + out_dims[:-1]} or "
        f"{(None,) + out_dims[:-1] + (1,)}, or one-hot / soft targets of "
        f"shape {out_shape}."
    )


@dataclasses.dataclass(frozen=True)
class MixedTargets:
    """What the loss and the metrics see for one mixed batch.

    Attributes:
        loss_terms: `[(y, sample_weight)]` whose compiled losses add up to
            the mixup loss: one term with mixed targets, or two terms
            `(y, lam * w)` and `(y[perm], (1 - lam) * w[perm])`.
        metric_y: Targets for the training metrics: mixed dense targets, or
            for class ids the label of the larger-weight source.
        metric_sample_weight: Weights for the training metrics.
    """

    loss_terms: list
    metric_y: object
    metric_sample_weight: object


def _gather(structure, perm):
    return tree.map_structure(lambda t: tf.gather(t, perm), structure)


def _scale(weights, lam):
    return tree.map_structure(
        lambda w: tf.cast(_per_example(lam, w), w.dtype) * w, weights
    )


def mix_targets(y, y_pred, sample_weight, params):
    """Builds the loss terms and metric targets of a mixed batch.

    Dense float targets without sample weights are blended directly, like
    the inputs. Integer class ids cannot be blended, and a sample weight
    belongs to one example's loss term; either case decomposes the loss as
    `lam * L(y, w) + (1 - lam) * L(y[perm], w[perm])`, which for
    cross-entropy equals the loss on blended one-hot targets.

    Args:
        y: Targets, a tensor or a structure matching `y_pred`.
        y_pred: Model outputs for the mixed inputs.
        sample_weight: `None`, or weights (from `fit`'s `sample_weight` or
            `class_weight`).
        params: The batch's `MixParams`.

    Returns:
        A `MixedTargets`.
    """
    flat_y = [tf.convert_to_tensor(t) for t in tree.flatten(y)]
    flat_pred = tree.flatten(y_pred)
    if len(flat_y) != len(flat_pred):
        raise ValueError(
            f"MixupModel got {len(flat_y)} target tensors for "
            f"{len(flat_pred)} model outputs; give one target per output."
        )
    kinds = [target_kind(t, p) for t, p in zip(flat_y, flat_pred)]
    lam = params.lam

    def metric_target(t, kind):
        if kind == DENSE:
            return blend(t, params)
        primary_wins = _per_example(lam, t) >= 0.5
        return tf.where(primary_wins, t, tf.gather(t, params.perm))

    metric_y = tree.pack_sequence_as(
        y, [metric_target(t, k) for t, k in zip(flat_y, kinds)]
    )
    if sample_weight is None and all(k == DENSE for k in kinds):
        return MixedTargets([(metric_y, None)], metric_y, None)

    if sample_weight is None:
        primary_w = lam
        partner_w = 1.0 - lam
        metric_w = None
    else:
        sample_weight = tree.map_structure(tf.convert_to_tensor, sample_weight)
        partner = _gather(sample_weight, params.perm)
        primary_w = _scale(sample_weight, lam)
        partner_w = _scale(partner, 1.0 - lam)
        metric_w = tree.map_structure(tf.add, primary_w, partner_w)
    y = tree.pack_sequence_as(y, flat_y)
    return MixedTargets(
        [(y, primary_w), (_gather(y, params.perm), partner_w)],
        metric_y,
        metric_w,
    )
