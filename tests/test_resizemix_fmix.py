"""ResizeMix and FMix against numpy statements of their references:
mmpretrain's `resizemix.py` (with PyTorch's bilinear `F.interpolate`,
`align_corners=False`) and FMix's `fmix.py` (`sample_mask`,
`binarise_mask`)."""

import math

import numpy as np
import pytest
from keras import ops

from mixup_model.backend import current as backend
from mixup_model.draws import sample_lambda
from mixup_model.methods import fmix
from mixup_model.methods import resizemix
from mixup_model.params import MixParams
from mixup_model.sizes import InputSizes


def _numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


# -- ResizeMix -----------------------------------------------------------------


def _torch_bilinear(image, out_h, out_w):
    """PyTorch's `upsample_bilinear2d` (`align_corners=False`), in numpy:
    `src = max(scale * (dst + 0.5) - 0.5, 0)`, the low index `int(src)`, the
    high one the next unless at the border, weights `1 - frac` and `frac`."""
    height, width = image.shape[:2]
    out = np.zeros((out_h, out_w) + image.shape[2:], np.float64)
    for i in range(out_h):
        src_y = max(height / out_h * (i + 0.5) - 0.5, 0.0)
        y0 = int(src_y)
        y1 = y0 + (1 if y0 < height - 1 else 0)
        ly = src_y - y0
        for j in range(out_w):
            src_x = max(width / out_w * (j + 0.5) - 0.5, 0.0)
            x0 = int(src_x)
            x1 = x0 + (1 if x0 < width - 1 else 0)
            lx = src_x - x0
            out[i, j] = ((1 - ly) * ((1 - lx) * image[y0, x0] + lx * image[y0, x1])
                         + ly * ((1 - lx) * image[y1, x0] + lx * image[y1, x1]))
    return out


def _resizemix_reference(x, box, perm):
    """mmpretrain's paste, per example: the whole partner image
    `F.interpolate`d to the box's size replaces the box."""
    out = x.astype(np.float64).copy()
    for i, (top, bottom, left, right) in enumerate(box):
        if bottom > top and right > left:
            out[i, top:bottom, left:right] = _torch_bilinear(
                x[perm[i]].astype(np.float64), bottom - top, right - left
            )
    return out


@pytest.mark.parametrize("image_size", [(12, 10), (9, 16)])
def test_resizemix_pixels_are_mmpretrains_resize_and_paste(image_size):
    rng = np.random.default_rng(0)
    x = rng.random((8,) + image_size + (3,), dtype=np.float32)
    lam = np.linspace(0.1, 0.8, 8).astype("float32")
    box, _ = resizemix.sample_boxes(lam, image_size, np.array([4, 2], "int32"))
    box = _numpy(box)
    perm = rng.permutation(8).astype("int32")
    params = MixParams(lam=lam, perm=perm)
    ours = _numpy(resizemix.paste_resized(x, box, params))
    np.testing.assert_allclose(ours, _resizemix_reference(x, box, perm), atol=2e-6)


def test_resizemix_pastes_the_same_box_and_scale_in_every_frame():
    rng = np.random.default_rng(1)
    videos = rng.random((4, 3, 10, 12, 2), dtype=np.float32)
    box = np.array([[1, 7, 2, 10], [0, 10, 0, 12], [4, 6, 5, 6], [0, 0, 0, 0]], "int32")
    params = MixParams(lam=np.ones(4, "float32"), perm=np.array([1, 2, 3, 0], "int32"))
    ours = _numpy(resizemix.paste_resized(videos, box, params))
    for frame in range(3):
        reference = _resizemix_reference(videos[:, frame], box, params.perm)
        np.testing.assert_allclose(ours[:, frame], reference, atol=2e-6)


def _rand_bbox_boxes(height, width, cut_h, cut_w):
    """Every box mmpretrain's `rand_bbox` can draw for these cuts: a centre
    anywhere in the image, corners `centre ± cut // 2` clipped."""
    return {
        (np.clip(cy - cut_h // 2, 0, height), np.clip(cy + cut_h // 2, 0, height),
         np.clip(cx - cut_w // 2, 0, width), np.clip(cx + cut_w // 2, 0, width))
        for cy in range(height) for cx in range(width)
    }


def test_resizemix_boxes_are_rand_bbox_and_weights_the_area_left():
    height, width = 13, 20
    lam = np.repeat(np.array([0.1, 0.37, 0.55, 0.8], "float32"), 64)
    box, weight = resizemix.sample_boxes(lam, (height, width), np.array([9, 9], "int32"))
    box, weight = _numpy(box), _numpy(weight)
    for (top, bottom, left, right), l, w in zip(box, lam, weight):
        ratio = math.sqrt(1.0 - float(l))
        possible = _rand_bbox_boxes(height, width, int(height * ratio), int(width * ratio))
        assert (top, bottom, left, right) in possible
        assert w == pytest.approx(1.0 - (bottom - top) * (right - left) / (height * width))
    # The centres are uniform: clipped boxes touch each border sometimes.
    assert (box[:, 0] == 0).any() and (box[:, 1] == height).any()


def test_resizemix_draw_scales_lambda_into_its_range():
    seed = np.array([1, 5], "int32")
    weight, region = resizemix.ResizeMix(1.0, lam_range=(0.3, 0.6)).draw(
        256, {"alpha": 1.0}, seed, InputSizes((32, 32), None)
    )
    box = region.box
    lam_seed, box_seed = backend.split(backend.as_seed(seed), 2)
    scaled = _numpy(sample_lambda(256, 1.0, lam_seed)) * 0.3 + 0.3
    expected_box, expected_weight = resizemix.sample_boxes(scaled, (32, 32), box_seed)
    np.testing.assert_array_equal(_numpy(box), _numpy(expected_box))
    np.testing.assert_array_equal(_numpy(weight), _numpy(expected_weight))
    # Clipping only shrinks the box: the weight is at least the scaled draw.
    assert (_numpy(weight) >= scaled - 1e-6).all()


# -- FMix ----------------------------------------------------------------------


def _fmix_binarise_mask(mask, lam, round_up, max_soft):
    """FMix's `binarise_mask` (fmix.py), with the ceil/floor coin given."""
    idx = mask.reshape(-1).argsort()[::-1]
    mask = mask.reshape(-1).astype(np.float64).copy()
    n = mask.size
    num = math.ceil(lam * n) if round_up else math.floor(lam * n)
    eff_soft = max_soft
    if max_soft > lam or max_soft > (1 - lam):
        eff_soft = min(lam, 1 - lam)
    soft = int(n * eff_soft)
    num_low, num_high = num - soft, num + soft
    mask[idx[:num_high]] = 1
    mask[idx[num_low:]] = 0
    mask[idx[num_low:num_high]] = np.linspace(1, 0, num_high - num_low)
    return mask


def _fmix_low_freq_image(normals, shape, decay_power):
    """`make_low_freq_image` with the paper's spectrum (re + i·im over every
    frequency; see `mixup_model.methods.fmix`), from given normals."""
    axes = [np.fft.fftfreq(s) for s in shape[:-1]] + [np.fft.rfftfreq(shape[-1])]
    freqs = np.sqrt(sum(g * g for g in np.meshgrid(*axes, indexing="ij")))
    scale = 1.0 / np.maximum(freqs, 1.0 / max(shape)) ** decay_power
    spectrum = scale * (normals[..., 0] + 1j * normals[..., 1])
    return np.fft.irfftn(spectrum, s=shape, axes=tuple(range(-len(shape), 0)))


@pytest.mark.parametrize("shape", [(30,), (12, 16), (9, 11), (4, 6, 8)], ids=str)
def test_fmix_noise_is_the_inverse_real_fft_of_its_spectrum(shape):
    rng = np.random.default_rng(2)
    normals = rng.standard_normal((3,) + fmix.frequency_grid(shape).shape + (2,))
    ours = _numpy(fmix.low_frequency_noise(normals.astype("float32"), shape, 3.0))
    reference = _fmix_low_freq_image(normals, shape, 3.0)
    np.testing.assert_allclose(ours, reference, rtol=1e-4, atol=1e-4 * np.abs(reference).max())


@pytest.mark.parametrize("max_soft", [0.0, 0.1, 0.45])
def test_fmix_masks_are_binarise_mask_of_their_noise(max_soft):
    rng = np.random.default_rng(3)
    noise = rng.standard_normal((16, 10, 12)).astype("float32")
    lam = rng.random(16).astype("float32")
    round_up = rng.random(16) > 0.5
    ours = _numpy(fmix.binarise(noise, lam, round_up, max_soft))
    for i in range(16):
        reference = _fmix_binarise_mask(noise[i], float(lam[i]), round_up[i], max_soft)
        np.testing.assert_allclose(ours[i].reshape(-1), reference, atol=1e-6)


def test_fmix_kept_fractions_are_ceil_or_floor_of_lambda_n():
    seed = np.array([6, 1], "int32")
    shape = (14, 10)
    mask, weight = fmix.sample_masks(400, 1.0, seed, shape)
    mask, weight = _numpy(mask), _numpy(weight)
    assert set(np.unique(mask)) <= {0.0, 1.0}
    lam_seed, _, _ = backend.split(backend.as_seed(seed), 3)
    lam = _numpy(sample_lambda(400, 1.0, lam_seed)).astype(np.float64)
    kept = mask.reshape(400, -1).sum(axis=1)
    size = math.prod(shape)
    floor, ceil = np.floor(lam * size), np.ceil(lam * size)
    assert ((kept == floor) | (kept == ceil)).all()
    # The label weight is the kept fraction, exactly.
    np.testing.assert_allclose(weight, kept / size, rtol=1e-6)
    # A fair coin between ceil and floor: within 4 sigma of 200 of 400.
    rounded_up = np.sum((kept == ceil) & (ceil != floor))
    decided = np.sum(ceil != floor)
    assert abs(rounded_up - decided / 2) < 4 * math.sqrt(decided / 4)


@pytest.mark.parametrize("decay_power", [2.0, 3.0])
def test_fmix_noise_power_decays_as_its_spectrum(decay_power):
    shape = (32, 32)
    seed = np.array([2, 8], "int32")
    _, noise_seed, _ = backend.split(backend.as_seed(seed), 3)
    normals = fmix._normals((512,) + fmix.frequency_grid(shape).shape + (2,), noise_seed)
    normals = _numpy(normals)
    assert abs(normals.mean()) < 0.01 and abs(normals.std() - 1.0) < 0.01
    noise = _numpy(fmix.low_frequency_noise(normals, shape, decay_power))
    power = (np.abs(np.fft.rfftn(noise, axes=(1, 2))) ** 2).mean(axis=0)
    freqs = fmix.frequency_grid(shape)
    # Interior bins (not the zero or Nyquist columns, which irfft makes real).
    inside = (freqs > 1.0 / 32) & (np.arange(freqs.shape[1]) > 0)[None, :] & (
        np.arange(freqs.shape[1]) < freqs.shape[1] - 1)[None, :]
    slope = np.polyfit(np.log(freqs[inside]), np.log(power[inside]), 1)[0]
    assert slope == pytest.approx(-2 * decay_power, abs=0.1)


def test_fmix_applies_masks_per_example_over_the_channels():
    rng = np.random.default_rng(4)
    x = rng.random((4, 6, 5, 3), dtype=np.float32)
    mask = (rng.random((4, 6, 5)) > 0.5).astype("float32")
    perm = np.array([2, 3, 0, 1], "int32")
    ours = _numpy(fmix.apply_masks(x, mask, perm))
    expected = np.where(mask[..., None] == 1.0, x, x[perm])
    np.testing.assert_array_equal(ours, expected)
    assert _numpy(fmix.own_weights(mask)).tolist() == pytest.approx(
        mask.reshape(4, -1).mean(axis=1).tolist()
    )
