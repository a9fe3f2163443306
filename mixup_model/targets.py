"""Mixing the targets of a batch with its `MixParams`: the loss's terms and
the metrics' targets.

Each example's weight of its own target is its lambda, or for outputs per
pixel (step, cell) of the cut input the map of its method's region
(`mixup_model.methods.base`: 0 where the partner was pasted). Dense targets are blended; class ids and sample
weights split the loss into one term per source. Label smoothing and timm's
target threshold apply after mixing.
"""

import typing

from keras import ops
from keras import tree

from mixup_model.arguments import check_fraction_below_one
from mixup_model.convex import blend
from mixup_model.params import uses
from mixup_model.shards import take_partners
from mixup_model.tensors import as_floating
from mixup_model.tensors import fit_rank
from mixup_model.tensors import same_dims

# How a target tensor relates to the model output it is compared with.
DENSE = "dense"  # same shape as the output: one-hot, soft, binary, regression
CLASS_IDS = "class_ids"  # integer class indices for a sparse loss


def target_kind(y, y_pred):
    """Classifies one target against its output, or raises a clear error."""
    y_dims = tuple(y.shape)[1:]
    out_dims = tuple(y_pred.shape)[1:]
    num_outputs = out_dims[-1] if out_dims else None
    if same_dims(y_dims, out_dims):
        return DENSE
    if num_outputs == 1 and same_dims(y_dims, out_dims[:-1]):
        return DENSE  # e.g. binary labels (B,) for a sigmoid output (B, 1)
    if out_dims and (
        same_dims(y_dims, out_dims[:-1])
        or same_dims(y_dims, out_dims[:-1] + (1,))
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


class MixedTargets(typing.NamedTuple):
    """What the loss and the metrics see for one mixed batch.

    Attributes:
        loss_terms: `[(y, sample_weight)]` whose compiled losses add up to
            the mixup loss: one term with mixed targets, or two terms
            `(y, lam * w)` and `(y[perm], (1 - lam) * w[perm])`.
        metric_y: Targets for the training metrics: mixed dense targets, or
            for class ids the label of the larger-weight source.
        metric_sample_weight: Weights for the training metrics.
    """

    # A NamedTuple, not a dataclass: `torch.compile` before PyTorch 2.4
    # cannot trace a dataclass built inside the compiled step.
    loss_terms: list
    metric_y: typing.Any
    metric_sample_weight: typing.Any


def _convex(a, b, weight_of_a):
    """`w * a + (1 - w) * b` elementwise, exact where `w` is 0 or 1 (a
    pasted pixel is its source's target, not a rounded one); the same
    one-sided step as `blend`."""
    a, b = as_floating(a), as_floating(b)
    w = ops.cast(weight_of_a, a.dtype)
    keep = w >= 0.5
    base = ops.where(keep, a, b)
    other = ops.where(keep, b, a)
    return base + ops.where(keep, 1.0 - w, w) * (other - base)


def own_weights(y_pred, params, cut_dims=None):
    """Each example's weight of its own target for one output `y_pred`.

    Args:
        y_pred: The output.
        params: The batch's `MixParams`.
        cut_dims: The static `(H, W)` (`(T,)`) of the cut input, or None.

    Returns:
        `params.lam`, shape `(batch,)`; or, for an output per cell of a
        region of the draw (per pixel of the cut image, per cell of a
        mask), a map `(batch, *cells)`: the region's map for the examples
        that use it, lambda elsewhere.
    """
    maps = [
        (index, region.own_map(y_pred, cut_dims))
        for index, region in enumerate(params.regions)
        if region is not None
    ]
    maps = [(index, cell_map) for index, cell_map in maps if cell_map is not None]
    if not maps:
        return params.lam
    if params.method is None:
        return maps[0][1]
    cells = ops.shape(maps[0][1])
    lam = fit_rank(ops.convert_to_tensor(params.lam, "float32"), len(maps[0][1].shape))
    weights = ops.broadcast_to(lam, cells)
    for index, cell_map in maps:
        chosen = uses(params, index)
        if isinstance(chosen, bool):  # the batch's method, known on the host
            weights = cell_map if chosen else weights
        else:
            weights = ops.where(fit_rank(chosen, len(cell_map.shape)), cell_map, weights)
    return weights


def _weigh(own, weight):
    """`own * weight`, a per-example weight (or map) times a sample weight,
    each broadcast over the other's trailing axes."""
    own = ops.convert_to_tensor(own)
    if weight is None:
        return own
    weight = as_floating(weight)
    rank = max(len(own.shape), len(weight.shape))
    return fit_rank(ops.cast(own, weight.dtype), rank) * fit_rank(weight, rank)


def _weights_per_target(sample_weight, count):
    """One sample weight (or None) per target, as Keras's compiled loss
    uses them: a single weight serves every output."""
    if sample_weight is None:
        return [None] * count
    flat = [ops.convert_to_tensor(w) for w in tree.flatten(sample_weight)]
    return flat * count if len(flat) == 1 else flat


def validate_label_smoothing(label_smoothing):
    """Returns `label_smoothing` as a float in [0, 1), or raises."""
    return check_fraction_below_one("label_smoothing", label_smoothing)


def smooth_labels(y, num_outputs, label_smoothing):
    """Keras's smoothing: towards uniform over `num_outputs` classes, or
    towards 0.5 for a single (binary) output."""
    if not label_smoothing:
        return y
    classes = 2 if num_outputs in (None, 1) else num_outputs
    return as_floating(y) * (1.0 - label_smoothing) + label_smoothing / classes


def mix_targets(
    y,
    y_pred,
    sample_weight,
    params,
    label_smoothing=0.0,
    target_threshold=None,
    cut_dims=None,
):
    """Builds the loss terms and metric targets of a mixed batch.

    Dense float targets without sample weights are blended directly, like
    the inputs. Integer class ids cannot be blended, and a sample weight
    belongs to one example's loss term; either case decomposes the loss as
    `lam * L(y, w) + (1 - lam) * L(y[perm], w[perm])`, which for
    cross-entropy equals the loss on blended one-hot targets.

    Per-pixel targets (segmentation masks) are recognised from their
    output's shape: an output `(batch, H, W, K)` for an image input cut at
    `(H, W)` (or `(batch, T, K)` for a sequence cut at `(T,)`), with
    targets `(batch, H, W)` or `(batch, H, W, 1)` class ids or
    `(batch, H, W, K)` one-hot or soft. In a CutMix batch their weights are
    per pixel (see `own_weights`): the box is pasted into the target as
    into the image, and sample weights of shape `(batch, H, W)` follow
    their pixels.

    Args:
        y: Targets, a tensor or a structure matching `y_pred`.
        y_pred: Model outputs for the mixed inputs.
        sample_weight: `None`, or weights (from `fit`'s `sample_weight` or
            `class_weight`).
        params: The batch's `MixParams`.
        label_smoothing: Smooths the targets of the loss (not those of the
            metrics) after mixing. Needs dense (one-hot, soft or binary)
            targets: a sparse loss has no smoothed form.
        target_threshold: `None`, or a float in (0, 1): after mixing and
            smoothing, the loss's targets above it become 1 and the others 0
            (timm's `bce_target_thresh`, for multi-label training with
            binary cross-entropy). Needs dense targets; with sample weights,
            each mixed example is weighted `lam * w + (1 - lam) * w[perm]`.
        cut_dims: `(H, W)` of the image input that CutMix cuts (`(T,)` of
            a sequence input), static ints or None; None when nothing is
            cut or per-pixel targets are not wanted.

    Returns:
        A `MixedTargets`: the loss's terms (`loss_terms`, a list of
        `(targets, sample_weight)` pairs whose weighted losses add up to
        the mixed loss) and the targets that metrics see.

    Raises:
        ValueError: `y` has another number of tensors than `y_pred`, a
            target's shape is neither the output's (dense) nor a class id
            per example, `label_smoothing` is outside [0, 1) or set with
            class ids, or `target_threshold` is set with class ids.

    Example:

    >>> params = MixParams(lam=np.array([0.75, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> one_hot = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    >>> mixed = mix_targets(one_hot, one_hot, None, params)
    >>> [ops.convert_to_numpy(y).tolist() for y, _ in mixed.loss_terms]
    [[[0.75, 0.25], [0.0, 1.0]]]
    """
    flat_y = [ops.convert_to_tensor(t) for t in tree.flatten(y)]
    flat_pred = tree.flatten(y_pred)
    if len(flat_y) != len(flat_pred):
        raise ValueError(
            f"MixupModel got {len(flat_y)} target tensors for "
            f"{len(flat_pred)} model outputs; give one target per output."
        )
    kinds = [target_kind(t, p) for t, p in zip(flat_y, flat_pred)]
    if label_smoothing and CLASS_IDS in kinds:
        raise ValueError(
            "`label_smoothing` needs one-hot (or soft) targets and a "
            "non-sparse loss, but got integer class labels. Pass "
            "`keras.utils.to_categorical(y)` and `categorical_crossentropy`."
        )
    if target_threshold is not None and CLASS_IDS in kinds:
        raise ValueError(
            "`target_threshold` needs dense (one-hot, multi-hot or soft) "
            "targets to threshold, but got integer class labels. Pass "
            "`keras.utils.to_categorical(y)` (or multi-hot targets) and a "
            "binary or categorical cross-entropy."
        )
    perm = params.perm
    owns = [own_weights(p, params, cut_dims) for p in flat_pred]

    def smooth(targets):
        flat = [
            smooth_labels(t, tuple(p.shape)[-1] if p.shape else None, label_smoothing)
            for t, p in zip(tree.flatten(targets), flat_pred)
        ]
        if target_threshold is not None:
            flat = [ops.cast(t > target_threshold, t.dtype) for t in flat]
        return tree.pack_sequence_as(targets, flat)

    def metric_target(t, kind, own):
        if kind == DENSE and len(own.shape) == 1:
            return blend(t, params)
        partner = take_partners(t, perm)
        if kind == DENSE:
            return _convex(t, partner, fit_rank(own, len(t.shape)))
        own_wins = fit_rank(own, len(t.shape)) >= 0.5
        return ops.where(own_wins, t, partner)

    metric_y = tree.pack_sequence_as(
        y, [metric_target(t, k, o) for t, k, o in zip(flat_y, kinds, owns)]
    )
    if sample_weight is None and all(k == DENSE for k in kinds):
        return MixedTargets([(smooth(metric_y), None)], metric_y, None)

    # The weights a loss multiplies its values with: rank of the output
    # less the classes axis (per example, per pixel, per step).
    owns = [
        fit_rank(ops.convert_to_tensor(o), max(len(p.shape) - 1, 1))
        for o, p in zip(owns, flat_pred)
    ]
    weights = _weights_per_target(sample_weight, len(flat_y))
    partner_weights = [None if w is None else take_partners(w, perm) for w in weights]
    primary_w = [_weigh(o, w) for o, w in zip(owns, weights)]
    partner_w = [_weigh(1.0 - o, w) for o, w in zip(owns, partner_weights)]
    if target_threshold is not None:
        # A threshold applies to the blend, so the loss cannot be split
        # into one term per source; the mixed example carries both weights.
        weight = tree.pack_sequence_as(y, list(map(ops.add, primary_w, partner_w)))
        return MixedTargets([(smooth(metric_y), weight)], metric_y, weight)
    metric_w = None
    if sample_weight is not None:
        metric_w = tree.pack_sequence_as(y, list(map(ops.add, primary_w, partner_w)))
    y = tree.pack_sequence_as(y, flat_y)
    partner_y = tree.map_structure(lambda t: take_partners(t, perm), y)
    return MixedTargets(
        [
            (smooth(y), tree.pack_sequence_as(y, primary_w)),
            (smooth(partner_y), tree.pack_sequence_as(y, partner_w)),
        ],
        metric_y,
        metric_w,
    )


