"""Applying a batch's `MixParams` to inputs, activations and targets.

`mixup_model.sampling` draws what is random about a batch; this module
applies it: mixup blends, CutMix pastes boxes, and the targets follow with
the same weights. Everything is `keras.ops` code that runs inside every
backend's compiled train step (XLA included).
"""

import dataclasses

import keras
from keras import ops
from keras import tree

from mixup_model.arguments import check_fraction_below_one

# Re-exported: the sampling half used to live here.
from mixup_model.sampling import LAMBDA_MODES  # noqa: F401
from mixup_model.sampling import MixParams  # noqa: F401
from mixup_model.sampling import sample_mix_params  # noqa: F401
from mixup_model.sampling import validate_lambda_mode  # noqa: F401


def _per_example(lam, like):
    """Reshapes `lam` of shape (batch,) to broadcast against `like`."""
    rank = len(like.shape)
    return ops.reshape(lam, [-1] + [1] * (rank - 1)) if rank else lam


def _as_floating(x):
    """`x` as a tensor; integers and booleans cast to `keras.config.floatx()`
    (blending or smoothing them in integer arithmetic would truncate)."""
    x = ops.convert_to_tensor(x)
    if not _is_float(x.dtype):
        x = ops.cast(x, keras.config.floatx())
    return x


def _dtype_name(dtype):
    return keras.backend.standardize_dtype(dtype)


def _is_float(dtype):
    return "float" in _dtype_name(dtype)


def blend(x, params):
    """Returns `lam * x + (1 - lam) * x[perm]` for one tensor of any rank.

    Integer and boolean inputs are cast to `keras.config.floatx()` first:
    blending uint8 pixels in integer arithmetic would truncate. Floating
    inputs keep their dtype (float16/bfloat16 included); lambda is cast to it.
    Every result lies between its two sources, also after rounding (as long
    as their difference is finite in the dtype), and equals the source when
    its lambda is exactly 1 (or the partner when it is 0).

    Args:
        x: A tensor whose first axis is the batch.
        params: The batch's `MixParams`.

    Returns:
        The blended tensor, of `x`'s shape (and dtype, if floating).

    Example:

    >>> params = MixParams(lam=np.array([0.75, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> x = np.array([[0.0, 4.0], [8.0, 0.0]], "float32")
    >>> ops.convert_to_numpy(blend(x, params)).tolist()
    [[2.0, 3.0], [8.0, 0.0]]
    """
    x = _as_floating(x)
    lam, perm = params.lam, params.perm
    # From the source with the larger weight, a step of t = min(lam, 1 - lam)
    # <= 1/2 towards the other: the result stays between the two sources
    # even after rounding (the step is at most half their rounded distance),
    # is exact at lam in {0, 1}, and takes fewer passes than a two-sided
    # blend and a clip.
    own = ops.arange(ops.shape(x)[0], dtype=perm.dtype)
    keep = lam >= 0.5
    base = ops.take(x, ops.where(keep, own, perm), axis=0)
    other = ops.take(x, ops.where(keep, perm, own), axis=0)
    t = ops.cast(_per_example(ops.where(keep, 1.0 - lam, lam), x), x.dtype)
    return base + t * (other - base)


# Ranks that CutMix pastes boxes into: images `(batch, H, W, C)` and
# videos `(batch, T, H, W, C)` (one box through all frames: a tube).
BOX_RANKS = (4, 5)


def _spatial_axes(data_format=None, rank=4):
    """The axes of H and W in a batch of `rank` (4: images, 5: videos)."""
    data_format = data_format or keras.config.image_data_format()
    first = rank - 3 if data_format == "channels_last" else rank - 2
    return first, first + 1


def image_size_of(x, data_format=None):
    """`(height, width)` of an image (rank 4) or video (rank 5) batch: ints,
    or scalar tensors for dimensions unknown when tracing."""
    rows, cols = _spatial_axes(data_format, len(x.shape))
    shape = ops.shape(x)
    return shape[rows], shape[cols]


def box_mask(box, image_size):
    """Bool `(batch, H, W)`: True inside each example's half-open box."""
    height, width = image_size
    box = ops.convert_to_tensor(box, "int32")  # also from numpy arrays
    rows = ops.arange(height, dtype="int32")[None, :]
    cols = ops.arange(width, dtype="int32")[None, :]
    in_rows = ops.logical_and(rows >= box[:, 0:1], rows < box[:, 1:2])
    in_cols = ops.logical_and(cols >= box[:, 2:3], cols < box[:, 3:4])
    return ops.logical_and(in_rows[:, :, None], in_cols[:, None, :])


def paste_boxes(x, params, data_format=None):
    """CutMix: each image with its box taken from its partner image.

    Args:
        x: Images of rank 4, `(batch, H, W, C)` (or `(batch, C, H, W)` with
            `data_format="channels_first"`; defaults to Keras's setting), or
            videos of rank 5, `(batch, T, H, W, C)` (`(batch, C, T, H, W)`),
            into whose frames the same box is pasted (a tube).
            Integers are cast to `keras.config.floatx()`, as in `blend`.
        params: `MixParams` with `box`.
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        The images, `x`'s shape, with each box pasted from the partner.

    Example:

    >>> x = np.stack([np.zeros((4, 4, 1)), np.ones((4, 4, 1))]).astype("float32")
    >>> params = MixParams(lam=np.array([0.75, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"),
    ...                    box=np.array([[0, 2, 0, 2], [0, 0, 0, 0]], "int32"))
    >>> ops.convert_to_numpy(paste_boxes(x, params))[0, :, :, 0].tolist()
    [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    x = _as_floating(x)
    rank = len(x.shape)
    rows, cols = _spatial_axes(data_format, rank)
    mask = box_mask(params.box, image_size_of(x, data_format))
    # (batch, H, W) -> ones everywhere but the batch and spatial axes.
    for axis in range(1, rank):
        if axis not in (rows, cols):
            mask = ops.expand_dims(mask, axis)
    return ops.where(mask, ops.take(x, params.perm, axis=0), x)


def mix_tensor(x, params, data_format=None):
    """Mixes one tensor: CutMix boxes for images in a CutMix batch, else a
    blend with the batch's lambda."""
    x = ops.convert_to_tensor(x)
    if params.box is None or len(x.shape) not in BOX_RANKS:
        return blend(x, params)
    # Boxes without a switch, or a switch fixed when sampling (CutMix is the
    # only method): no conditional in the step.
    if params.cutmix is None or isinstance(params.cutmix, bool):
        if params.cutmix is False:
            return blend(x, params)
        return paste_boxes(x, params, data_format)
    # Per batch, one or the other: only the chosen one is computed.
    return ops.cond(
        params.cutmix,
        lambda: paste_boxes(x, params, data_format),
        lambda: blend(x, params),
    )


def _top_level_names(x):
    if isinstance(x, dict):
        return list(x.keys())
    return list(range(len(x)))


def blended_by_default(dtype):
    """The dtype rule: whether an input of `dtype` is mixed unless told.

    Floating inputs are blended; unsigned integers (`uint8`, `uint16`
    images) are blended as floats. Signed integers (token ids, segment ids,
    positions) and booleans (masks) are not: a blend of two ids is no id.
    `mixed_inputs` overrides the rule.
    """
    name = _dtype_name(dtype)
    return "float" in name or name.startswith("uint")


def _dtype_of(leaf):
    # The array's own dtype where it has one: PyTorch has no uint16 tensor,
    # and converting first would turn a uint16 image into int32.
    dtype = getattr(leaf, "dtype", None)
    return ops.convert_to_tensor(leaf).dtype if dtype is None else dtype


def selected_inputs(x, include=None):
    """Which leaves of an input get mixed: a structure of bools like `x`.

    By default (`include=None`) the dtype rule of `blended_by_default`
    decides, for a single tensor and for each leaf of a dict or list of
    inputs alike. `include` names the inputs to mix instead: dict keys or
    list positions, or `[0]` for a single tensor.
    """
    if include is None:
        return tree.map_structure(
            lambda leaf: blended_by_default(_dtype_of(leaf)),
            x,
        )
    if not tree.is_nested(x):
        names = [0]
    elif isinstance(x, (dict, list, tuple)):
        names = _top_level_names(x)
    else:
        raise ValueError(
            "`mixed_inputs` names inputs of a dict or list input, but the "
            f"model input is a {type(x).__name__}."
        )
    unknown = [name for name in include if name not in names]
    if unknown:
        raise ValueError(
            f"`mixed_inputs` names {unknown}, which are not inputs of the "
            f"model; its inputs are {names}."
        )
    chosen = set(include)
    if not tree.is_nested(x):
        return 0 in chosen
    if isinstance(x, dict):
        return {
            k: tree.map_structure(lambda _, c=k in chosen: c, v)
            for k, v in x.items()
        }
    return type(x)(
        tree.map_structure(lambda _, c=i in chosen: c, v) for i, v in enumerate(x)
    )


def describe_inputs(x):
    """`"token_ids: int32 (None, 12), ..."`: the inputs with their dtypes,
    for error messages."""
    paths = tree.flatten_with_path(x) if tree.is_nested(x) else [((), x)]
    parts = []
    for path, leaf in paths:
        leaf = ops.convert_to_tensor(leaf)
        name = "/".join(str(p) for p in path) or "input"
        parts.append(f"{name}: {_dtype_name(leaf.dtype)} {tuple(leaf.shape)}")
    return ", ".join(parts)


def mix_inputs(x, params, include=None, data_format=None):
    """Mixes a model input: a tensor, or a nested structure of tensors.

    Which inputs are mixed follows the dtype rule of `blended_by_default`
    (floats and unsigned integers are mixed, signed integers and booleans
    are kept from the primary example), unless `include` names the inputs
    to mix (see `selected_inputs`). Every mixed input uses the same lambda
    and permutation; in a CutMix batch, image inputs (rank 4) and video
    inputs (rank 5) get the boxes and the other mixed inputs are blended
    with the pasted-area lambda.

    Args:
        x: The batch's inputs: a tensor, or a list/tuple/dict of them.
        params: The batch's `MixParams`.
        include: `None` (the dtype rule), or the names (dict keys) or
            positions of the inputs to mix.
        data_format: The images' `"channels_last"` or `"channels_first"`.

    Returns:
        `x`'s structure with the selected inputs mixed.

    Raises:
        ValueError: `include` names an input that `x` does not have.

    Example:

    >>> params = MixParams(lam=np.array([0.5, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> batch = {"pixels": np.array([[0.0], [2.0]], "float32"),
    ...          "token_ids": np.array([[3], [7]], "int32")}
    >>> mixed = mix_inputs(batch, params)
    >>> ops.convert_to_numpy(mixed["pixels"]).tolist()  # blended
    [[1.0], [2.0]]
    >>> ops.convert_to_numpy(mixed["token_ids"]).tolist()  # kept
    [[3], [7]]
    """
    selection = selected_inputs(x, include)
    if not tree.is_nested(x):
        return mix_tensor(x, params, data_format) if selection else x
    return tree.map_structure(
        lambda leaf, mix: (
            mix_tensor(leaf, params, data_format)
            if mix
            else ops.convert_to_tensor(leaf)
        ),
        x,
        selection,
    )


def first_image(x, include=None):
    """The first mixed image (rank 4) or video (rank 5) input, or None."""
    leaves = [
        leaf
        for leaf, mix in zip(
            tree.flatten(x), tree.flatten(selected_inputs(x, include))
        )
        if mix
    ]
    for leaf in leaves:
        if leaf is not None and len(leaf.shape) in BOX_RANKS:
            return leaf
    return None


def batch_size_of(x):
    """The dynamic batch size of a (possibly nested) input."""
    first = next(leaf for leaf in tree.flatten(x) if leaf is not None)
    return ops.shape(first)[0]


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
    return tree.map_structure(lambda t: ops.take(t, perm, axis=0), structure)


def _scale(weights, lam):
    return tree.map_structure(
        lambda w: ops.cast(_per_example(lam, w), w.dtype) * w, weights
    )


def validate_label_smoothing(label_smoothing):
    """Returns `label_smoothing` as a float in [0, 1), or raises."""
    return check_fraction_below_one("label_smoothing", label_smoothing)


def smooth_labels(y, num_outputs, label_smoothing):
    """Keras's smoothing: towards uniform over `num_outputs` classes, or
    towards 0.5 for a single (binary) output."""
    if not label_smoothing:
        return y
    classes = 2 if num_outputs in (None, 1) else num_outputs
    return _as_floating(y) * (1.0 - label_smoothing) + label_smoothing / classes


def mix_targets(
    y, y_pred, sample_weight, params, label_smoothing=0.0, target_threshold=None
):
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
        label_smoothing: Smooths the targets of the loss (not those of the
            metrics) after mixing. Needs dense (one-hot, soft or binary)
            targets: a sparse loss has no smoothed form.
        target_threshold: `None`, or a float in (0, 1): after mixing and
            smoothing, the loss's targets above it become 1 and the others 0
            (timm's `bce_target_thresh`, for multi-label training with
            binary cross-entropy). Needs dense targets; with sample weights,
            each mixed example is weighted `lam * w + (1 - lam) * w[perm]`.

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
    lam = params.lam

    def smooth(targets):
        flat = [
            smooth_labels(t, tuple(p.shape)[-1] if p.shape else None, label_smoothing)
            for t, p in zip(tree.flatten(targets), flat_pred)
        ]
        if target_threshold is not None:
            flat = [ops.cast(t > target_threshold, t.dtype) for t in flat]
        return tree.pack_sequence_as(targets, flat)

    def metric_target(t, kind):
        if kind == DENSE:
            return blend(t, params)
        primary_wins = _per_example(lam, t) >= 0.5
        return ops.where(primary_wins, t, ops.take(t, params.perm, axis=0))

    metric_y = tree.pack_sequence_as(
        y, [metric_target(t, k) for t, k in zip(flat_y, kinds)]
    )
    if sample_weight is None and all(k == DENSE for k in kinds):
        return MixedTargets([(smooth(metric_y), None)], metric_y, None)
    if target_threshold is not None:
        # A threshold applies to the blend, so the loss cannot be split
        # into one term per source; the mixed example carries both weights.
        sample_weight = tree.map_structure(ops.convert_to_tensor, sample_weight)
        weight = tree.map_structure(
            ops.add,
            _scale(sample_weight, lam),
            _scale(_gather(sample_weight, params.perm), 1.0 - lam),
        )
        return MixedTargets([(smooth(metric_y), weight)], metric_y, weight)

    if sample_weight is None:
        primary_w = lam
        partner_w = 1.0 - lam
        metric_w = None
    else:
        sample_weight = tree.map_structure(ops.convert_to_tensor, sample_weight)
        partner = _gather(sample_weight, params.perm)
        primary_w = _scale(sample_weight, lam)
        partner_w = _scale(partner, 1.0 - lam)
        metric_w = tree.map_structure(ops.add, primary_w, partner_w)
    y = tree.pack_sequence_as(y, flat_y)
    return MixedTargets(
        [(smooth(y), primary_w), (smooth(_gather(y, params.perm)), partner_w)],
        metric_y,
        metric_w,
    )
