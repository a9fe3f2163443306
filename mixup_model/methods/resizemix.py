"""ResizeMix (Qin et al., 2020): paste the whole partner, shrunk into a box.

As mmpretrain's `ResizeMix` (`mmpretrain/models/utils/batch_augments/
resizemix.py`), per example instead of per batch:

- draw: lambda ~ Beta(alpha, alpha) scaled into `[lam_min, lam_max]`
  (`lam * (lam_max - lam_min) + lam_min`), then CutMix's `rand_bbox` for a
  box: sides `int(H * sqrt(1 - lam))` and `int(W * sqrt(1 - lam))`, a centre
  uniform over the image, corners `centre ± side // 2` clipped at the
  borders (`draw`, `sample_boxes`);
- apply: the partner image, resized whole to the box's size (bilinear with
  half-pixel centres, as `F.interpolate(..., align_corners=False)`), replaces
  the box (`paste_resized`); in videos the same box and scale in every frame;
- own weight: `1 - box area / image area`, the fraction of the example left
  (`own_weights`).

The resize is one batched resampling with a per-example interpolation
matrix along each image axis: static shapes, no per-example loop.
"""

from keras import ops

from mixup_model.arguments import is_real
from mixup_model.arguments import argument_error

from mixup_model.backend import current as backend
from mixup_model.draws import MIN_CONCENTRATION
from mixup_model.draws import sample_lambda
from mixup_model.methods.cutmix import spatial_axes
from mixup_model.methods.cutmix import cut_mask_of
from mixup_model.methods.cutmix import image_size_of
from mixup_model.shards import take_partners
from mixup_model.tensors import as_floating

# What `MixupModel` calls the method, and the rate that switches it on.
NAME = "ResizeMix"
RATE = "resizemix_alpha"


def validate_lam_range(lam_range):
    """Returns `(lam_min, lam_max)` as floats with `0 <= lam_min <= lam_max
    <= 1`, or raises a ValueError naming `resizemix_lam_range`."""
    try:
        low, high = lam_range
        valid = is_real(low) and is_real(high) and 0.0 <= low <= high <= 1.0
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise argument_error(
            "resizemix_lam_range",
            "a pair (lam_min, lam_max) with 0 <= lam_min <= lam_max <= 1",
            lam_range,
        )
    return (float(low), float(high))


def sample_boxes(lam, image_size, seed):
    """mmpretrain's (and timm's) `rand_bbox`, one box per example.

    Args:
        lam: float32 `(batch,)`, the scaled lambdas.
        image_size: `(height, width)`, Python ints.
        seed: A stateless seed of shape `(2,)`.

    Returns:
        `(box, lam)`: int32 `(batch, 4)` boxes `[top, bottom, left, right)`
        and each example's weight of its own target, `1 - area / (H * W)`
        of the clipped box.
    """
    seeds = backend.split(backend.as_seed(seed), 2)
    ratio = ops.sqrt(1.0 - lam)
    bounds = []
    for size, axis_seed in zip(image_size, seeds):
        cut = ops.cast(ops.floor(size * ratio), "int32")
        centre = backend.uniform_int(ops.shape(lam), axis_seed, size)
        bounds += [ops.clip(centre - cut // 2, 0, size), ops.clip(centre + cut // 2, 0, size)]
    box = ops.stack(bounds, axis=1)
    height, width = image_size
    area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])
    return box, 1.0 - ops.cast(area, "float32") / float(height * width)


def draw(batch_size, alpha, seed, image_size, lam_min=0.1, lam_max=0.8,
         lambda_mode="per_sample"):
    """ResizeMix's boxes and weights for one batch.

    Args:
        batch_size: Number of examples.
        alpha: The Beta concentration (clamped to a small positive value).
        seed: A stateless seed of shape `(2,)`.
        image_size: `(height, width)`, Python ints.
        lam_min, lam_max: The range the Beta draw is scaled into (the
            weight of the example itself before the box is clipped).
        lambda_mode: `"per_sample"` or `"per_batch"`.

    Returns:
        `(box, lam)` as `sample_boxes`.
    """
    lam_seed, box_seed = backend.split(backend.as_seed(seed), 2)
    drawn = sample_lambda(batch_size, ops.maximum(alpha, MIN_CONCENTRATION), lam_seed, lambda_mode)
    return sample_boxes(drawn * (lam_max - lam_min) + lam_min, image_size, box_seed)


def interpolation_matrix(start, end, size):
    """float32 `(batch, size, size)`: row `i` holds the bilinear weights on
    the source pixels of output pixel `i` when the whole axis (`size`
    pixels) is resized into `[start, end)`, as PyTorch's bilinear
    `F.interpolate(align_corners=False)` computes them; rows outside the
    span are 0."""
    length = ops.maximum(end - start, 1)
    scale = float(size) / ops.cast(length, "float32")
    output = ops.arange(size, dtype="float32")[None, :]
    source = (output - ops.cast(start, "float32")[:, None] + 0.5) * scale[:, None] - 0.5
    source = ops.maximum(source, 0.0)  # PyTorch clamps below at 0
    low = ops.minimum(ops.floor(source), size - 1.0)
    frac = source - low
    high = ops.minimum(low + 1.0, size - 1.0)
    pixels = ops.arange(size, dtype="float32")[None, None, :]
    weights = (
        ops.cast(pixels == low[:, :, None], "float32") * (1.0 - frac)[:, :, None]
        + ops.cast(pixels == high[:, :, None], "float32") * frac[:, :, None]
    )
    inside = ops.logical_and(output >= ops.cast(start, "float32")[:, None],
                             output < ops.cast(end, "float32")[:, None])
    return ops.where(inside[:, :, None], weights, 0.0)


def resize_into_boxes(x, box, data_format=None):
    """Each image of `x` resized whole into its box of an empty canvas.

    Args:
        x: Images `(batch, H, W, C)` or videos `(batch, T, H, W, C)` (or
            channels first); every frame of a video gets the same box.
        box: int32 `(batch, 4)` boxes `[top, bottom, left, right)`.
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        `x`'s shape: inside each box the resized image, 0 outside.
    """
    x = as_floating(x)
    rank = len(x.shape)
    rows_axis, cols_axis = spatial_axes(data_format, rank)
    height, width = image_size_of(x, data_format)
    box = ops.convert_to_tensor(box, "int32")
    rows = ops.cast(interpolation_matrix(box[:, 0], box[:, 1], height), x.dtype)
    cols = ops.cast(interpolation_matrix(box[:, 2], box[:, 3], width), x.dtype)
    # (batch, H, W, rest): the image axes first, the others flattened.
    moved = ops.moveaxis(x, (rows_axis, cols_axis), (1, 2))
    moved_shape = ops.shape(moved)
    flat = ops.reshape(moved, (moved_shape[0], height, width, -1))
    resized = ops.einsum("bih,bhwr->biwr", rows, flat)
    resized = ops.einsum("bjw,biwr->bijr", cols, resized)
    resized = ops.reshape(resized, moved_shape)
    return ops.moveaxis(resized, (1, 2), (rows_axis, cols_axis))


def paste_resized(x, params, data_format=None, into=None, box=None):
    """ResizeMix: each image with its box replaced by its whole partner
    image, resized into the box.

    Args:
        x: Images of rank 4 or videos of rank 5, as `paste_boxes` takes
            them.
        params: `MixParams` with `box` (an empty box pastes nothing).
        data_format: `"channels_last"` or `"channels_first"`.
        into: What the box is pasted into, `x`'s shape (default `x`).
        box: The boxes, in place of `params.box` (a recipe of several
            methods keeps ResizeMix's in `params.resize_box`).

    Returns:
        The images, `x`'s shape.

    Example:

    >>> x = np.stack([np.zeros((4, 4, 1)), np.ones((4, 4, 1))]).astype("float32")
    >>> params = MixParams(lam=np.array([0.75, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"),
    ...                    box=np.array([[0, 2, 0, 2], [0, 0, 0, 0]], "int32"))
    >>> ops.convert_to_numpy(paste_resized(x, params))[0, :, :, 0].tolist()
    [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    x = as_floating(x)
    box = params.box if box is None else box
    into = x if into is None else into
    resized = resize_into_boxes(take_partners(x, params.perm), box, data_format)
    boxed = params._replace(box=box, segment=None)
    return ops.where(cut_mask_of(x, boxed, data_format), resized, into)


def own_weights(params):
    """Each example's weight of its own target: `params.lam`, the fraction
    of the image outside its box."""
    return params.lam
