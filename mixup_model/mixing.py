"""Applying a batch's `MixParams` to inputs, activations and targets.

`mixup_model.sampling` draws what is random about a batch; this module
applies it: mixup blends, CutMix pastes boxes, and the targets follow with
the same weights. Everything is `keras.ops` code that runs inside every
backend's compiled train step (XLA included).
"""

import typing

import keras
from keras import ops
from keras import tree

from mixup_model.arguments import check_fraction_below_one
from mixup_model.backend import current as backend
from mixup_model.shards import take_partners

# Re-exported: the sampling half used to live here.
from mixup_model.sampling import LAMBDA_MODES  # noqa: F401
from mixup_model.sampling import MixParams  # noqa: F401
from mixup_model.sampling import sample_mix_params  # noqa: F401
from mixup_model.sampling import validate_lambda_mode  # noqa: F401


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
    if backend.blend_rows is not None:  # (a backend whose batches are not sharded)
        return backend.blend_rows(x, ops.convert_to_tensor(lam), ops.convert_to_tensor(perm))
    # From the source with the larger weight, a step of t = min(lam, 1 - lam)
    # <= 1/2 towards the other: the result stays between the two sources
    # even after rounding (the step is at most half their rounded distance),
    # is exact at lam in {0, 1}, and takes fewer passes than a two-sided
    # blend and a clip.
    own = ops.arange(ops.shape(x)[0], dtype=perm.dtype)
    keep = lam >= 0.5
    base = take_partners(x, ops.where(keep, own, perm))
    other = take_partners(x, ops.where(keep, perm, own))
    t = ops.cast(_fit_rank(ops.where(keep, 1.0 - lam, lam), len(x.shape)), x.dtype)
    return base + t * (other - base)


# Ranks that CutMix pastes boxes into: images `(batch, H, W, C)` and
# videos `(batch, T, H, W, C)` (one box through all frames: a tube).
BOX_RANKS = (4, 5)
# Sequences `(batch, T, C)` get segments along T instead.
SEGMENT_RANK = 3


def _spatial_axes(data_format=None, rank=4):
    """The axes CutMix cuts along in a batch of `rank`: H and W of images
    (rank 4) and videos (rank 5), T of sequences (rank 3)."""
    data_format = data_format or keras.config.image_data_format()
    if rank == SEGMENT_RANK:
        return (1,) if data_format == "channels_last" else (2,)
    first = rank - 3 if data_format == "channels_last" else rank - 2
    return first, first + 1


def image_size_of(x, data_format=None):
    """The sizes CutMix cuts along: `(height, width)` of an image (rank 4)
    or video (rank 5) batch, `(steps,)` of a sequence batch (rank 3); ints,
    or scalar tensors for dimensions unknown when tracing."""
    shape = ops.shape(x)
    return tuple(shape[axis] for axis in _spatial_axes(data_format, len(x.shape)))


def static_cut_dims(x, data_format=None):
    """`image_size_of` as static dims: ints, None where unknown."""
    return tuple(x.shape[axis] for axis in _spatial_axes(data_format, len(x.shape)))


def box_mask(box, image_size):
    """Bool `(batch, H, W)`: True inside each example's half-open box."""
    height, width = image_size
    box = ops.convert_to_tensor(box, "int32")  # also from numpy arrays
    rows = ops.arange(height, dtype="int32")[None, :]
    cols = ops.arange(width, dtype="int32")[None, :]
    in_rows = ops.logical_and(rows >= box[:, 0:1], rows < box[:, 1:2])
    in_cols = ops.logical_and(cols >= box[:, 2:3], cols < box[:, 3:4])
    return ops.logical_and(in_rows[:, :, None], in_cols[:, None, :])


def segment_mask(segment, length):
    """Bool `(batch, T)`: True inside each example's half-open segment."""
    segment = ops.convert_to_tensor(segment, "int32")
    steps = ops.arange(length, dtype="int32")[None, :]
    return ops.logical_and(steps >= segment[:, 0:1], steps < segment[:, 1:2])


def cut_mask(params, sizes):
    """Bool `(batch, *sizes)`: True where CutMix pastes from the partner
    (the box of `params` for two sizes, its segment for one)."""
    if len(sizes) == 1:
        return segment_mask(params.segment, sizes[0])
    return box_mask(params.box, sizes)


def _paste(x, params, data_format, into=None):
    """`x` (or `into`, of its shape) with each example's cut (box or
    segment) taken from its partner in `x`."""
    x = _as_floating(x)
    into = x if into is None else into
    rank = len(x.shape)
    axes = _spatial_axes(data_format, rank)
    mask = cut_mask(params, image_size_of(x, data_format))
    # (batch, *sizes) -> ones everywhere but the batch and cut axes.
    for axis in range(1, rank):
        if axis not in axes:
            mask = ops.expand_dims(mask, axis)
    return ops.where(mask, take_partners(x, params.perm), into)


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
    return _paste(x, params, data_format)


def paste_segments(x, params, data_format=None):
    """CutMix for sequences: each sequence with its segment of steps taken
    from its partner.

    Args:
        x: Sequences of rank 3, `(batch, T, C)` (or `(batch, C, T)` with
            `data_format="channels_first"`; defaults to Keras's setting).
            Integers are cast to `keras.config.floatx()`, as in `blend`.
        params: `MixParams` with `segment`.
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        The sequences, `x`'s shape, with each segment from the partner.

    Example:

    >>> x = np.stack([np.zeros((5, 1)), np.ones((5, 1))]).astype("float32")
    >>> params = MixParams(lam=np.array([0.6, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"),
    ...                    segment=np.array([[1, 3], [0, 0]], "int32"))
    >>> ops.convert_to_numpy(paste_segments(x, params))[0, :, 0].tolist()
    [0.0, 1.0, 1.0, 0.0, 0.0]
    """
    return _paste(x, params, data_format)


def _cut_of(x, params):
    """The cut that `params` holds for a tensor of `x`'s rank, or None."""
    rank = len(x.shape)
    if rank in BOX_RANKS:
        return params.box
    if rank == SEGMENT_RANK:
        return params.segment
    return None


def _fit_rank(t, rank):
    """`t` with trailing axes of size 1 added up to `rank`."""
    while len(t.shape) < rank:
        t = ops.expand_dims(t, -1)
    return t


def mix_tensor(x, params, data_format=None):
    """Mixes one tensor: the CutMix cut (a box for images and videos, a
    segment for sequences) for the examples that CutMix, else a blend with
    the example's lambda."""
    x = ops.convert_to_tensor(x)
    if _cut_of(x, params) is None:
        return blend(x, params)
    cutmix = params.cutmix
    # A cut without a switch, or a switch fixed when sampling (CutMix is
    # the only method): no conditional in the step.
    if cutmix is None or isinstance(cutmix, bool):
        if cutmix is False:
            return blend(x, params)
        return _paste(x, params, data_format)
    if len(cutmix.shape) == 0 and backend.CONDITIONALS_IN_GRAPH:
        # Per batch, one or the other: only the chosen one is computed.
        # (Without an in-graph conditional, the per-example form below
        # selects with the scalar: a mixup batch's boxes are empty.)
        return ops.cond(
            cutmix,
            lambda: _paste(x, params, data_format),
            lambda: blend(x, params),
        )
    # Per example: CutMix examples keep their own image (lam = 1) in the
    # blend, and the others have empty cuts, which paste nothing. The cuts
    # come from the unblended partners, as in timm.
    blended = blend(x, params._replace(lam=ops.where(cutmix, 1.0, params.lam)))
    return _paste(x, params, data_format, into=blended)


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


def _leaves_with_paths(x, path=()):
    """`(path, leaf)` of a nested input, dict keys in sorted order as
    `keras.tree.flatten` has them (`keras.tree.flatten_with_path` is newer
    than Keras 3.6)."""
    if isinstance(x, dict):
        for key in sorted(x):
            yield from _leaves_with_paths(x[key], path + (key,))
    elif isinstance(x, (list, tuple)):
        for index, item in enumerate(x):
            yield from _leaves_with_paths(item, path + (index,))
    else:
        yield path, x


def describe_inputs(x):
    """`"token_ids: int32 (None, 12), ..."`: the inputs with their dtypes,
    for error messages."""
    parts = []
    for path, leaf in _leaves_with_paths(x):
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
    inputs (rank 5) get the boxes (or sequence inputs, rank 3, the
    segments) and the other mixed inputs are blended with the pasted-area
    lambda.

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


def first_cut_input(x, include=None):
    """The mixed input that CutMix cuts: the first image (rank 4) or video
    (rank 5), else the first sequence (rank 3); None if there is none."""
    leaves = [
        leaf
        for leaf, mix in zip(
            tree.flatten(x), tree.flatten(selected_inputs(x, include))
        )
        if mix and leaf is not None
    ]
    candidates = [leaf for leaf in leaves if len(leaf.shape) in BOX_RANKS] + [
        leaf for leaf in leaves if len(leaf.shape) == SEGMENT_RANK
    ]
    return candidates[0] if candidates else None


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
    a, b = _as_floating(a), _as_floating(b)
    w = ops.cast(weight_of_a, a.dtype)
    keep = w >= 0.5
    base = ops.where(keep, a, b)
    other = ops.where(keep, b, a)
    return base + ops.where(keep, 1.0 - w, w) * (other - base)


def _per_cell(y_pred, cut_dims):
    """Whether an output predicts per pixel (per step) of the cut input:
    its dims between the batch and the last (classes) axis are the cut
    input's `cut_dims`, `(H, W)` of an image or `(T,)` of a sequence."""
    if cut_dims is None:
        return False
    between = tuple(y_pred.shape)[1:-1]
    return len(between) == len(cut_dims) and _same_dims(between, cut_dims)


def own_weights(y_pred, params, cut_dims=None):
    """Each example's weight of its own target for one output.

    Args:
        y_pred: The output.
        params: The batch's `MixParams`.
        cut_dims: `(H, W)` of the image (or `(T,)` of the sequence) that
            CutMix cuts, or None.

    Returns:
        `params.lam`, shape `(batch,)`; or, for an output per pixel (step)
        of the cut input in a batch with CutMix, a map `(batch, *cut_dims)`:
        0 inside an example's cut and 1 outside for the examples that
        CutMix, lam everywhere for those that blend.
    """
    cut = params.box if len(cut_dims or ()) == 2 else params.segment
    if cut is None or not _per_cell(y_pred, cut_dims):
        return params.lam
    sizes = tuple(ops.shape(y_pred)[1 : 1 + len(cut_dims)])
    outside = 1.0 - ops.cast(cut_mask(params, sizes), "float32")
    cutmix = params.cutmix
    if cutmix is None or cutmix is True:
        return outside
    lam = _fit_rank(ops.convert_to_tensor(params.lam, "float32"), len(outside.shape))
    if cutmix is False:
        return ops.broadcast_to(lam, ops.shape(outside))
    cutmix = _fit_rank(ops.convert_to_tensor(cutmix), len(outside.shape))
    return ops.where(cutmix, outside, lam)


def _weigh(own, weight):
    """`own * weight`, a per-example weight (or map) times a sample weight,
    each broadcast over the other's trailing axes."""
    own = ops.convert_to_tensor(own)
    if weight is None:
        return own
    weight = _as_floating(weight)
    rank = max(len(own.shape), len(weight.shape))
    return _fit_rank(ops.cast(own, weight.dtype), rank) * _fit_rank(weight, rank)


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
    return _as_floating(y) * (1.0 - label_smoothing) + label_smoothing / classes


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
            return _convex(t, partner, _fit_rank(own, len(t.shape)))
        own_wins = _fit_rank(own, len(t.shape)) >= 0.5
        return ops.where(own_wins, t, partner)

    metric_y = tree.pack_sequence_as(
        y, [metric_target(t, k, o) for t, k, o in zip(flat_y, kinds, owns)]
    )
    if sample_weight is None and all(k == DENSE for k in kinds):
        return MixedTargets([(smooth(metric_y), None)], metric_y, None)

    # The weights a loss multiplies its values with: rank of the output
    # less the classes axis (per example, per pixel, per step).
    owns = [
        _fit_rank(ops.convert_to_tensor(o), max(len(p.shape) - 1, 1))
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
