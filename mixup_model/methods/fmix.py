"""FMix (Harris et al., 2020): paste a free-form region of the partner, cut
by a thresholded low-frequency Fourier noise image.

As the official `sample_mask` (`ecs-vlc/FMix`, `fmix.py`), per example
instead of per batch, for sequences (1-D masks), images (2-D) and videos
(3-D):

- draw: lambda ~ Beta(alpha, alpha); a noise image whose spectrum is
  Gaussian with amplitude `1 / max(|f|, 1 / max(shape)) ** decay_power`
  (`spectrum_scale`), transformed back with an inverse real FFT
  (`low_frequency_noise`); its `num` largest values become 1 and the rest
  0, `num` being `ceil(lam * N)` or `floor(lam * N)` with probability 1/2
  each, and with `max_soft` a linear ramp of `2 * int(N * soft)` values
  across the threshold (`binarise`, `sample_masks`);
- region (`Masks`): `mask * x + (1 - mask) * x[perm]`, the mask broadcast
  over the channels (`apply_masks`);
- own weight: the mask's mean per example, or the mask itself per pixel.

One deliberate difference from the official code: `make_low_freq_image`
there builds its complex spectrum as `spectrum[:, 0] + 1j * spectrum[:, 1]`,
which indexes the first frequency axis rather than the trailing
(real, imaginary) axis, so its 2-D masks vary along the width as a single
cosine. Here the spectrum is the one the paper describes,
`spectrum[..., 0] + 1j * spectrum[..., 1]` over every frequency.
"""

import math
import typing

import keras
import numpy as np
from keras import ops

from mixup_model.arguments import is_real
from mixup_model.arguments import argument_error
from mixup_model.backend import current as backend
from mixup_model.draws import MIN_CONCENTRATION
from mixup_model.draws import sample_lambda
from mixup_model.methods.base import BatchMethod
from mixup_model.methods.base import register
from mixup_model.shards import take_partners
from mixup_model.sizes import cells_of
from mixup_model.tensors import as_floating
from mixup_model.tensors import fit_rank
from mixup_model.tensors import same_dims

# Where it was before `mixup_model.sizes`.
mask_shape_of = cells_of


def validate_decay_power(decay_power, name="fmix_decay_power"):
    """Returns `decay_power` as a float > 0, or raises."""
    if not is_real(decay_power) or not math.isfinite(decay_power) or decay_power <= 0:
        raise argument_error(name, "a finite number > 0", decay_power)
    return float(decay_power)


def validate_max_soft(max_soft, name="fmix_max_soft"):
    """Returns `max_soft` as a float in [0, 0.5], or raises."""
    if not is_real(max_soft) or not 0.0 <= max_soft <= 0.5:
        raise argument_error(name, "a float in [0, 0.5]", max_soft)
    return float(max_soft)


def frequency_grid(shape):
    """`|f|` of each coefficient of the real FFT of an array of `shape` (1 to
    3 axes): the full `fftfreq` along every axis but the last, `rfftfreq`
    along the last (a numpy array of the spectrum's shape)."""
    axes = [np.fft.fftfreq(size) for size in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    grids = np.meshgrid(*axes, indexing="ij")
    return np.sqrt(sum(g * g for g in grids))


def spectrum_scale(shape, decay_power):
    """FMix's amplitude per frequency: `1 / max(|f|, 1 / max(shape)) **
    decay_power` (the zero frequency clamped), float32, the spectrum's
    shape."""
    frequencies = np.maximum(frequency_grid(shape), 1.0 / max(shape))
    return (1.0 / frequencies**decay_power).astype("float32")


def _inverse_fft(real, imag, axis):
    """The inverse complex FFT along `axis`: `conj(fft(conj(z))) / n`."""
    # A swap of two axes (its own inverse) rather than `moveaxis`, which
    # `torch.vmap` cannot batch (eager PyTorch draws steps ahead in a vmap).
    real, imag = ops.swapaxes(real, axis, -1), ops.swapaxes(imag, axis, -1)
    size = real.shape[-1]
    real, imag = ops.fft((real, -imag))
    return (ops.swapaxes(real / size, -1, axis), ops.swapaxes(-imag / size, -1, axis))


def low_frequency_noise(normals, shape, decay_power):
    """The noise images of given Gaussian spectra: `irfftn(scale * (re + i
    im), shape)` per example.

    Args:
        normals: float32 `(batch, *spectrum_shape, 2)`, standard normal
            real and imaginary parts, `spectrum_shape` being
            `frequency_grid(shape).shape`.
        shape: The mask's shape, 1 to 3 static sizes.
        decay_power: FMix's decay power δ.

    Returns:
        float32 `(batch, *shape)`.
    """
    scale = ops.convert_to_tensor(spectrum_scale(shape, decay_power))
    normals = ops.convert_to_tensor(normals, "float32")
    real, imag = normals[..., 0] * scale, normals[..., 1] * scale
    for axis in range(1, len(shape)):
        real, imag = _inverse_fft(real, imag, axis)
    return ops.irfft((real, imag), fft_length=shape[-1])


def binarise(noise, lam, round_up, max_soft=0.0):
    """FMix's `binarise_mask`, per example.

    Args:
        noise: float32 `(batch, *shape)` noise images.
        lam: float32 `(batch,)`, the fraction to keep.
        round_up: bool `(batch,)`: keep `ceil(lam * N)` values (else
            `floor(lam * N)`), N being the mask's size.
        max_soft: The largest fraction of N on each side of the threshold
            that ramps linearly from 1 to 0 (FMix's `max_soft`), at most
            `min(lam, 1 - lam)` per example.

    Returns:
        float32 `(batch, *shape)`: 1 on the largest values, 0 on the rest.
    """
    shape = tuple(noise.shape[1:])
    size = math.prod(shape)
    flat = ops.reshape(noise, (-1, size))
    exact = lam * float(size)
    num = ops.where(round_up, ops.ceil(exact), ops.floor(exact))
    if isinstance(max_soft, (int, float)) and max_soft == 0:
        return ops.reshape(_largest(flat, num), (-1,) + shape)
    # Each value's rank, the largest first.
    rank = ops.cast(ops.argsort(ops.argsort(-flat, axis=1), axis=1), "float32")
    soft = ops.where(
        ops.logical_or(max_soft > lam, max_soft > 1.0 - lam),
        ops.minimum(lam, 1.0 - lam),
        max_soft,
    )
    soft = ops.floor(float(size) * soft)
    low, high = (num - soft)[:, None], (num + soft)[:, None]
    ramp = 1.0 - (rank - low) / ops.maximum(high - low - 1.0, 1.0)
    mask = ops.where(rank < low, 1.0, ops.where(rank >= high, 0.0, ramp))
    return ops.reshape(mask, (-1,) + shape)


# Halvings of the noise's range in `_largest`: enough to part values that
# differ by 2**-48 of the range (neighbouring values of N noise values lie
# about 1/N of it apart).
_BISECTION_STEPS = 48


def _largest(flat, num):
    """float32 mask of each row's `num` largest values (`binarise` without a
    soft edge): the threshold between the `num`-th and the next value is
    found by bisecting the row's range, counting the values above each
    midpoint. Two sorts (`argsort` of `argsort`, the ranks) cost XLA on a
    CPU about 30 times as much for a 28 x 28 mask. The count is exact unless
    two values of a row are equal or closer than 2**-48 of its range,
    which continuous noise makes vanishingly rare; the label weight is the
    mask's mean either way."""
    def halve(_, bounds):
        low, high = bounds
        middle = (low + high) / 2.0
        count = ops.sum(ops.cast(flat >= middle[:, None], "float32"), axis=1)
        enough = count >= num
        return ops.where(enough, middle, low), ops.where(enough, high, middle)

    # A loop rather than unrolled steps: XLA would copy unrolled steps into
    # each consumer of the mask (the inputs and the label weights).
    low, _ = ops.fori_loop(
        0, _BISECTION_STEPS, halve,
        (ops.min(flat, axis=1), ops.max(flat, axis=1) + 1.0),  # none reach the top
    )
    # num = 0 leaves `low` where no value reaches it; num = N at the minimum.
    keep = ops.where(num > 0, low, ops.max(flat, axis=1) + 1.0)
    return ops.cast(flat >= keep[:, None], "float32")


def _normals(shape, seed):
    """Standard normals by Box-Muller from the backend's uniforms."""
    first, second = backend.split(backend.as_seed(seed), 2)
    radius = ops.sqrt(-2.0 * ops.log(1.0 - backend.uniform(shape, first)))
    return radius * ops.cos(2.0 * math.pi * backend.uniform(shape, second))


def sample_masks(batch_size, alpha, seed, shape, decay_power=3.0, max_soft=0.0,
                 lambda_mode="per_sample"):
    """FMix's masks for one batch, one per example.

    Args:
        batch_size: Number of examples, a Python int.
        alpha: The Beta concentration (clamped to a small positive value).
        seed: A stateless seed of shape `(2,)`.
        shape: The mask's static shape: `(T,)` of sequences, `(H, W)` of
            images, `(T, H, W)` of videos.
        decay_power: δ, how fast the spectrum decays (3, FMix's default;
            larger gives smoother masks).
        max_soft: FMix's soft edge (see `binarise`); 0 gives binary masks.
        lambda_mode: `"per_sample"` or `"per_batch"`.

    Returns:
        `(mask, lam)`: float32 `(batch, *shape)` masks (1 where the example
        keeps its own values) and each example's weight of its own target,
        the mask's mean.
    """
    shape = tuple(int(s) for s in shape)
    lam_seed, noise_seed, round_seed = backend.split(backend.as_seed(seed), 3)
    lam = sample_lambda(batch_size, ops.maximum(alpha, MIN_CONCENTRATION), lam_seed, lambda_mode)
    spectrum = frequency_grid(shape).shape
    normals = _normals((batch_size,) + spectrum + (2,), noise_seed)
    noise = low_frequency_noise(normals, shape, decay_power)
    round_up = backend.uniform((batch_size,), round_seed) > 0.5
    mask = binarise(noise, lam, round_up, max_soft)
    return mask, own_weights(mask)


@register
class FMix(BatchMethod):
    """FMix: a region of each example cut by thresholded low-frequency
    noise, taken from its partner.

    Args:
        alpha: The concentration of `Beta(alpha, alpha)`, the fraction each
            mask keeps, a finite float >= 0 (0 pauses the method in a
            recipe).
        decay_power: How fast the noise's spectrum decays, a float > 0
            (default 3, FMix's; larger: smoother masks).
        max_soft: The soft edge, a float in [0, 0.5] (default 0: binary
            masks).

    Example:

    >>> FMix(1.0)
    FMix(alpha=1.0, decay_power=3.0, max_soft=0.0)
    """

    key = "fmix"
    caption = "FMix"
    seed_fold = 4
    flat_arguments = {
        "fmix_alpha": "alpha", "fmix_decay_power": "decay_power", "fmix_max_soft": "max_soft",
    }

    def __init__(self, alpha=1.0, decay_power=3.0, max_soft=0.0):
        super().__init__(alpha)
        self.decay_power = validate_decay_power(decay_power, self._argument("decay_power"))
        self.max_soft = validate_max_soft(max_soft, self._argument("max_soft"))

    def get_config(self):
        return {"alpha": self.alpha, "decay_power": self.decay_power, "max_soft": self.max_soft}

    def draw(self, batch_size, rates, seed, sizes, lambda_mode="per_sample"):
        mask, lam = sample_masks(
            batch_size, rates["alpha"], seed, tuple(sizes.cells), self.decay_power,
            self.max_soft, lambda_mode,
        )
        return lam, Masks(mask)

    def empty_region(self, batch_size, sizes):
        return Masks(ops.ones((batch_size,) + tuple(sizes.cells), "float32"))

    def check_input(self, x, shapes):
        if x is None:
            raise ValueError(
                f"{self.caption} (`fmix_alpha` > 0) needs an image input of rank 4, a "
                "video input of rank 5 or a sequence input of rank 3 to mask; "
                f"the model's inputs have shapes {shapes}."
            )
        if None in cells_of(x):
            raise ValueError(
                f"{self.caption} (`fmix_alpha` > 0) needs the sizes of the input it masks to be "
                "known when the step is traced (FMix's Fourier noise has a "
                f"static shape); the model's inputs have shapes {shapes}."
            )


class Masks(typing.NamedTuple):
    """FMix's region: float32 masks `(batch, *cells)`, 1 where the example
    keeps its own values."""

    mask: typing.Any

    def applies_to(self, x, data_format=None):
        return same_dims(cells_of(x, data_format), tuple(self.mask.shape)[1:])

    def paste(self, x, partners, into, data_format=None):
        channels_last = (data_format or keras.config.image_data_format()) == "channels_last"
        mask = ops.cast(self.mask, x.dtype)
        mask = ops.expand_dims(mask, -1 if channels_last else 1)
        return mask * into + (1.0 - mask) * partners

    def own_map(self, y_pred, cut_dims):
        if not same_dims(tuple(y_pred.shape)[1:-1], tuple(self.mask.shape)[1:]):
            return None
        return ops.cast(self.mask, "float32")

    def emptied(self, keep):
        keep = fit_rank(ops.convert_to_tensor(keep), len(self.mask.shape))
        return Masks(ops.where(keep, self.mask, ops.cast(1, self.mask.dtype)))


def apply_masks(x, mask, perm, channels_last=True, into=None):
    """`mask * x + (1 - mask) * x[perm]`, the mask `(batch, *shape)`
    broadcast over the channel axis of `x` `(batch, *shape, channels)` (or
    `(batch, channels, *shape)`); with `into`, `mask * into + (1 - mask) *
    x[perm]`.

    Example:

    >>> x = np.stack([np.zeros((3, 1)), np.ones((3, 1))]).astype("float32")
    >>> mask = np.array([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], "float32")
    >>> ops.convert_to_numpy(apply_masks(x, mask, np.array([1, 0])))[0, :, 0].tolist()
    [0.0, 1.0, 0.0]
    """
    x = as_floating(x)
    into = x if into is None else into
    mask = ops.cast(ops.convert_to_tensor(mask), x.dtype)
    mask = ops.expand_dims(mask, -1 if channels_last else 1)
    return mask * into + (1.0 - mask) * take_partners(x, perm)


def own_weights(mask):
    """Each example's weight of its own target: the mean of its mask."""
    mask = ops.convert_to_tensor(mask)
    return ops.mean(ops.reshape(mask, (ops.shape(mask)[0], -1)), axis=1)

