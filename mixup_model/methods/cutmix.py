"""CutMix (Yun et al., ICCV 2019): paste a region of the partner.

The method's three parts, as every batch method in `mixup_model.methods`
has them:

- draw: a box per example for images (rank 4) and videos (rank 5, one box
  through all frames), a segment of steps for sequences (rank 3), sized from
  lambda ~ Beta(cutmix_alpha, cutmix_alpha) or timm's `cutmix_minmax`
  (`draw`, `sample_boxes`, `sample_segments`);
- apply: each example with its region taken from its partner
  (`paste_boxes`, `paste_segments`);
- own weight: the fraction left unpasted, exact after clipping; for outputs
  per pixel (step) of the cut input, a map that is 0 inside the region and 1
  outside (`own_weights`).
"""

import keras
from keras import ops

from mixup_model.backend import current as backend
from mixup_model.draws import MIN_CONCENTRATION
from mixup_model.draws import sample_lambda
from mixup_model.shards import take_partners
from mixup_model.tensors import as_floating
from mixup_model.tensors import fit_rank
from mixup_model.tensors import same_dims

# What `MixupModel` calls the method, and the rate that switches it on.
NAME = "CutMix"
RATE = "cutmix_alpha"

# Ranks that CutMix pastes boxes into: images `(batch, H, W, C)` and
# videos `(batch, T, H, W, C)` (one box through all frames: a tube).
BOX_RANKS = (4, 5)


# Sequences `(batch, T, C)` get segments along T instead.
SEGMENT_RANK = 3


def spatial_axes(data_format=None, rank=4):
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
    return tuple(shape[axis] for axis in spatial_axes(data_format, len(x.shape)))


def static_cut_dims(x, data_format=None):
    """`image_size_of` as static dims: ints, None where unknown."""
    return tuple(x.shape[axis] for axis in spatial_axes(data_format, len(x.shape)))


def _uniform_below(shape, seed, limit):
    """int32 uniform on [0, limit) for a per-element int32 `limit` >= 1
    (the backends' integer draws take one scalar bound)."""
    limit = ops.cast(limit, "float32")
    drawn = ops.floor(backend.uniform(shape, seed) * limit)
    return ops.cast(ops.minimum(drawn, limit - 1.0), "int32")


def _sample_spans(cut_ratio, sizes, seed, minmax):
    """One half-open span `[start, end)` per example along each axis of
    `sizes`: a cut of `floor(size * cut_ratio)` around a uniform centre,
    clipped at the borders, or with `minmax` a length drawn uniformly from
    `[int(size * low), int(size * high))` placed where it fits.

    Returns a list of `(start, end)` int32 pairs, one per axis.
    """
    shape = ops.shape(cut_ratio)
    count = len(sizes)
    if minmax is None:
        seeds = backend.split(backend.as_seed(seed), count)
    else:
        seeds = backend.split(backend.as_seed(seed), 2 * count)
    spans = []
    for axis, size in enumerate(sizes):
        limit = ops.cast(size, "int32")
        if minmax is None:
            cut = ops.cast(
                ops.floor(ops.cast(limit, "float32") * cut_ratio), "int32"
            )
            start = backend.uniform_int(shape, seeds[axis], limit) - cut // 2
        else:
            if isinstance(size, int):  # static: the exact cells, as timm's int()
                low, high = (int(size * f) for f in minmax)
            else:
                low, high = (
                    ops.cast(ops.floor(ops.cast(limit, "float32") * f), "int32")
                    for f in minmax
                )
            cut = low + _uniform_below(
                shape, seeds[axis], ops.maximum(high - low, 1)
            )
            start = _uniform_below(shape, seeds[count + axis], limit - cut)
        spans.append((ops.clip(start, 0, limit), ops.clip(start + cut, 0, limit)))
    return spans


def _cut_weight(spans, sizes):
    """1 - (the cut's cells / all cells): the weight left to the example."""
    cells = 1
    total = 1
    for (start, end), size in zip(spans, sizes):
        cells = cells * (end - start)
        total = total * ops.cast(size, "int32")
    return 1.0 - ops.cast(cells, "float32") / ops.cast(total, "float32")


def sample_boxes(lam, image_size, seed, minmax=None, correct_lam=True):
    """CutMix boxes: one per example.

    By default as in Yun et al. (2019): the box has height
    `floor(H * sqrt(1 - lam))` and width `floor(W * sqrt(1 - lam))` (each
    from its own image side), a uniformly random centre, and is clipped at
    the image borders. Clipping shrinks the box, so with `correct_lam` the
    returned weight is recomputed from the pasted area.

    With `minmax=(low, high)` the drawn `lam` is not used (timm's
    `cutmix_minmax`): the box's height and width are drawn independently and
    uniformly from `[floor(H * low), floor(H * high))` (likewise for the
    width; just the lower end where the two are equal), its top-left corner
    uniformly where the box fits inside the image, and the weight always
    comes from the area.

    Args:
        lam: float32 tensor `(batch,)`, the drawn weights.
        image_size: `(height, width)`, Python ints or scalar int tensors.
        seed: A stateless seed of shape `(2,)`.
        minmax: `None`, or the `(low, high)` range of the box's sides as
            fractions of the image's.
        correct_lam: Return the weight of the pasted area (`True`), or, as
            timm's `correct_lam=False`, the drawn `lam` even where clipping
            shrank the box. Ignored with `minmax`.

    Returns:
        `(box, lam)`: int32 `(batch, 4)` boxes `[top, bottom, left, right]`
        (half-open) and each example's weight in the targets.
    """
    spans = _sample_spans(ops.sqrt(1.0 - lam), image_size, seed, minmax)
    box = ops.stack([bound for span in spans for bound in span], axis=1)
    if minmax is None and not correct_lam:
        return box, lam
    return box, _cut_weight(spans, image_size)


def sample_segments(lam, length, seed, minmax=None, correct_lam=True):
    """CutMix segments for sequences: one span of steps per example.

    The 1-D counterpart of `sample_boxes`: the segment has
    `floor(T * (1 - lam))` steps (not `sqrt`: a segment's share of the
    sequence is its length), a uniformly random centre, and is clipped at
    both ends; with `correct_lam` the weight is `1 - length / T` after
    clipping. `minmax` draws the length uniformly from
    `[floor(T * low), floor(T * high))` instead, placed where it fits.

    Args:
        lam: float32 tensor `(batch,)`, the drawn weights.
        length: `T`, a Python int or scalar int tensor.
        seed: A stateless seed of shape `(2,)`.
        minmax: `None`, or the `(low, high)` range of the segment's length
            as fractions of `T`.
        correct_lam: As in `sample_boxes`.

    Returns:
        `(segment, lam)`: int32 `(batch, 2)` segments `[start, end)` and
        each example's weight in the targets.
    """
    spans = _sample_spans(1.0 - lam, (length,), seed, minmax)
    segment = ops.stack(list(spans[0]), axis=1)
    if minmax is None and not correct_lam:
        return segment, lam
    return segment, _cut_weight(spans, (length,))


def draw(batch_size, cutmix_alpha, seed, sizes, lambda_mode="per_sample",
         minmax=None, correct_lam=True):
    """CutMix's regions in a recipe (`sample_batch_params`).

    Args:
        batch_size: Number of examples.
        cutmix_alpha: The concentration (clamped to a small positive value:
            a rate scheduled to 0 switches CutMix off by the recipe's gate).
        seed: A stateless seed of shape `(2,)`.
        sizes: `(height, width)` of images (boxes) or `(steps,)` of
            sequences (segments).
        lambda_mode: `"per_sample"` or `"per_batch"` lambda.
        minmax, correct_lam: As in `sample_boxes`.

    Returns:
        `(region, lam)`: int32 boxes `(batch, 4)` or segments `(batch, 2)`,
        and each example's weight of its own target.
    """
    lam_seed, region_seed = backend.split(backend.as_seed(seed), 2)
    drawn = sample_lambda(
        batch_size, ops.maximum(cutmix_alpha, MIN_CONCENTRATION), lam_seed, lambda_mode
    )
    sampler = sample_boxes if len(sizes) == 2 else sample_segments
    size = sizes if len(sizes) == 2 else sizes[0]
    return sampler(drawn, size, region_seed, minmax, correct_lam)


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


def paste(x, params, data_format, into=None):
    """`x` (or `into`, of its shape) with each example's cut (box or
    segment) taken from its partner in `x`."""
    x = as_floating(x)
    into = x if into is None else into
    return ops.where(cut_mask_of(x, params, data_format), take_partners(x, params.perm), into)


def cut_mask_of(x, params, data_format=None):
    """`cut_mask` for the batch `x`, of `x`'s rank: True inside each
    example's cut, broadcast over the axes that are not cut (channels, and
    the frames of a video)."""
    rank = len(x.shape)
    axes = spatial_axes(data_format, rank)
    mask = cut_mask(params, image_size_of(x, data_format))
    # (batch, *sizes) -> ones everywhere but the batch and cut axes.
    for axis in range(1, rank):
        if axis not in axes:
            mask = ops.expand_dims(mask, axis)
    return mask


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
    return paste(x, params, data_format)


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
    return paste(x, params, data_format)


def cut_of(x, params):
    """The cut that `params` holds for a tensor of `x`'s rank, or None."""
    rank = len(x.shape)
    if rank in BOX_RANKS:
        return params.box
    if rank == SEGMENT_RANK:
        return params.segment
    return None


def _per_cell(y_pred, cut_dims):
    """Whether an output predicts per pixel (per step) of the cut input:
    its dims between the batch and the last (classes) axis are the cut
    input's `cut_dims`, `(H, W)` of an image or `(T,)` of a sequence."""
    if cut_dims is None:
        return False
    between = tuple(y_pred.shape)[1:-1]
    return len(between) == len(cut_dims) and same_dims(between, cut_dims)


def own_weights(y_pred, params, cut_dims=None):
    """Each example's weight of its own target per pixel (step) of one
    output, or None where CutMix weighs whole examples (by `params.lam`).

    Args:
        y_pred: The output.
        params: The batch's `MixParams`.
        cut_dims: `(H, W)` of the image (or `(T,)` of the sequence) that
            CutMix cuts, or None.

    Returns:
        None unless the batch has cuts and `y_pred` is per pixel (step) of
        the cut input; then a map `(batch, *cut_dims)`: 0 inside an
        example's cut and 1 outside for the examples that CutMix, lam
        everywhere for those that blend.
    """
    cut = params.box if len(cut_dims or ()) == 2 else params.segment
    if cut is None or not _per_cell(y_pred, cut_dims):
        return None
    sizes = tuple(ops.shape(y_pred)[1 : 1 + len(cut_dims)])
    outside = 1.0 - ops.cast(cut_mask(params, sizes), "float32")
    cutmix = params.cutmix
    if cutmix is None or cutmix is True:
        return outside
    lam = fit_rank(ops.convert_to_tensor(params.lam, "float32"), len(outside.shape))
    if cutmix is False:
        return ops.broadcast_to(lam, ops.shape(outside))
    cutmix = fit_rank(ops.convert_to_tensor(cutmix), len(outside.shape))
    return ops.where(cutmix, outside, lam)
