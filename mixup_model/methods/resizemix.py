"""ResizeMix (Qin et al., 2020): paste the whole partner, shrunk into a box.

As mmpretrain's `ResizeMix` (`mmpretrain/models/utils/batch_augments/
resizemix.py`), per example instead of per batch:

- draw: lambda ~ Beta(alpha, alpha) scaled into `[lam_min, lam_max]`
  (`lam * (lam_max - lam_min) + lam_min`), then CutMix's `rand_bbox` for a
  box: sides `int(H * sqrt(1 - lam))` and `int(W * sqrt(1 - lam))`, a centre
  uniform over the image, corners `centre ± side // 2` clipped at the
  borders (`ResizeMix.draw`, `sample_boxes`);
- region (`ResizedBoxes`): the partner image, resized whole to the box's
  size (bilinear with half-pixel centres, as
  `F.interpolate(..., align_corners=False)`), replaces the box; in videos
  the same box and scale in every frame;
- own weight: `1 - box area / image area`, the fraction of the example left.

The resize is one batched resampling with a per-example interpolation
matrix along each image axis: static shapes, no per-example loop.
"""

import typing

from keras import ops

from mixup_model.arguments import is_real
from mixup_model.arguments import argument_error
from mixup_model.backend import current as backend
from mixup_model.draws import MIN_CONCENTRATION
from mixup_model.draws import sample_lambda
from mixup_model.methods.base import BatchMethod
from mixup_model.methods.base import register
from mixup_model.methods.cutmix import Boxes
from mixup_model.shards import take_partners
from mixup_model.sizes import BOX_RANKS
from mixup_model.sizes import image_size_of
from mixup_model.sizes import spatial_axes
from mixup_model.tensors import as_floating


def validate_lam_range(lam_range, name="resizemix_lam_range"):
    """Returns `(lam_min, lam_max)` as floats with `0 <= lam_min <= lam_max
    <= 1`, or raises a ValueError naming the argument."""
    try:
        low, high = lam_range
        valid = is_real(low) and is_real(high) and 0.0 <= low <= high <= 1.0
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise argument_error(
            name,
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


@register
class ResizeMix(BatchMethod):
    """ResizeMix: the whole partner, resized into a box of each example.

    Args:
        alpha: The concentration of `Beta(alpha, alpha)`, a finite float
            >= 0 (0 pauses the method in a recipe).
        lam_range: `(lam_min, lam_max)`, the range the Beta draw is scaled
            into (mmpretrain's `lam_min`, `lam_max`; default `(0.1, 0.8)`):
            each example's weight before its box is clipped.

    Example:

    >>> ResizeMix(1.0)
    ResizeMix(alpha=1.0, lam_range=(0.1, 0.8))
    """

    key = "resizemix"
    caption = "ResizeMix"
    seed_fold = 3
    flat_arguments = {"resizemix_alpha": "alpha", "resizemix_lam_range": "lam_range"}

    def __init__(self, alpha=1.0, lam_range=(0.1, 0.8)):
        super().__init__(alpha)
        self.lam_range = validate_lam_range(lam_range, self._argument("lam_range"))

    def get_config(self):
        return {"alpha": self.alpha, "lam_range": tuple(self.lam_range)}

    def draw(self, batch_size, rates, seed, sizes, lambda_mode="per_sample"):
        lam_seed, box_seed = backend.split(backend.as_seed(seed), 2)
        alpha = ops.maximum(rates["alpha"], MIN_CONCENTRATION)
        drawn = sample_lambda(batch_size, alpha, lam_seed, lambda_mode)
        lam_min, lam_max = self.lam_range
        box, lam = sample_boxes(drawn * (lam_max - lam_min) + lam_min, tuple(sizes.cut), box_seed)
        return lam, ResizedBoxes(box)

    def empty_region(self, batch_size, sizes):
        return ResizedBoxes(ops.zeros((batch_size, 4), "int32"))

    def check_input(self, x, shapes):
        if x is None or len(x.shape) not in BOX_RANKS:
            raise ValueError(
                f"{self.caption} (`resizemix_alpha` > 0) needs an image input of rank 4 "
                "(batch, height, width, channels) or a video input of rank 5 "
                "(batch, frames, height, width, channels) to paste resized "
                f"partners into; the model's inputs have shapes {shapes}."
            )
        if None in tuple(x.shape[axis] for axis in spatial_axes(None, len(x.shape))):
            raise ValueError(
                f"{self.caption} (`resizemix_alpha` > 0) needs the height and width of the "
                "images it pastes into to be known when the step is traced "
                "(the resize has static shapes); the model's inputs have "
                f"shapes {shapes}."
            )


class ResizedBoxes(typing.NamedTuple):
    """ResizeMix's region: int32 `(batch, 4)` boxes `[top, bottom)` x
    `[left, right)` into which the whole partner is resized."""

    box: typing.Any

    # Where it pastes, what each example keeps and how it is emptied are
    # CutMix's boxes'; only what is pasted differs.
    def applies_to(self, x, data_format=None):
        return Boxes(self.box).applies_to(x, data_format)

    def paste(self, x, partners, into, data_format=None):
        resized = resize_into_boxes(partners, self.box, data_format)
        return ops.where(Boxes(self.box).cut_mask_of(x, data_format), resized, into)

    def own_map(self, y_pred, cut_dims):
        return Boxes(self.box).own_map(y_pred, cut_dims)

    def emptied(self, keep):
        return ResizedBoxes(Boxes(self.box).emptied(keep).box)


def paste_resized(x, box, params, data_format=None):
    """ResizeMix: each image with its box replaced by its whole partner
    image, resized into the box.

    Args:
        x: Images of rank 4 or videos of rank 5, as `paste_boxes` takes
            them.
        box: int32 `(batch, 4)` boxes (an empty box pastes nothing).
        params: The batch's `MixParams` (its partners).
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        The images, `x`'s shape.

    Example:

    >>> x = np.stack([np.zeros((4, 4, 1)), np.ones((4, 4, 1))]).astype("float32")
    >>> params = MixParams(lam=np.array([0.75, 1.0], "float32"),
    ...                    perm=np.array([1, 0], "int32"))
    >>> box = np.array([[0, 2, 0, 2], [0, 0, 0, 0]], "int32")
    >>> ops.convert_to_numpy(paste_resized(x, box, params))[0, :, :, 0].tolist()
    [[1.0, 1.0, 0.0, 0.0], [1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    x = as_floating(x)
    region = ResizedBoxes(ops.convert_to_tensor(box, "int32"))
    return region.paste(x, take_partners(x, params.perm), x, data_format)
