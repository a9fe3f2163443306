"""CutMix and timm's prob/switch_prob, inside the compiled train step."""

import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import paste_boxes
from mixup_model import sample_batch_params
from tests.backends import BACKEND
from tests.backends import JIT
from tests.backends import as_in_step
from tests.backends import numpy
from tests.backends import seed
from tests.helpers import drawn
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.helpers import draw_as_in_step
from tests.helpers import two_term_cross_entropy


@JIT
def test_cutmix_label_weight_is_the_exact_pasted_area(jit):
    # Non-square images catch a box width computed from the height (TF Model
    # Garden); constant, distinct images let us count pasted pixels.
    height, width, n = 8, 20, 64
    x = np.broadcast_to(
        np.arange(1, n + 1, dtype="float32")[:, None, None, None], (n, height, width, 1)
    )
    draw = as_in_step(
        lambda seed: sample_batch_params(
            n, seed, alpha=0.0, cutmix_alpha=1.0, image_size=(height, width),
            mixup=False, cutmix=True,
        ),
        jit,
    )
    clipped = interior = 0
    for step in range(4):
        params = draw(seed(step, 9))
        mixed = numpy(paste_boxes(x, drawn(params).box, params))
        lam, perm, box = numpy(params.lam), numpy(params.perm), drawn(params).box
        for i in range(n):
            pasted = mixed[i, ..., 0] != x[i, ..., 0]
            if perm[i] == i:
                assert not pasted.any()
                continue
            np.testing.assert_array_equal(mixed[i][pasted], x[perm[i]][pasted])
            # Exactly the box, and the weight is exactly its area.
            top, bottom, left, right = box[i]
            expected = np.zeros((height, width), bool)
            expected[top:bottom, left:right] = True
            np.testing.assert_array_equal(pasted, expected)
            assert lam[i] == pytest.approx(1 - pasted.sum() / (height * width), abs=1e-6)
            on_border = top == 0 or left == 0 or bottom == height or right == width
            if on_border:
                clipped += 1
            elif bottom - top >= 2 and right - left >= 2:
                interior += 1
                # Each side scales with its own image side.
                assert abs((bottom - top) / height - (right - left) / width) <= (
                    1 / height + 1 / width
                ) + 1e-6
    assert clipped > 10 and interior > 10


@JIT
@pytest.mark.parametrize("input_shape", [(6, 10, 1), (3, 6, 10, 1)], ids=["image", "video"])
def test_cutmix_step_trains_on_pasted_images_with_area_weights(jit, input_shape):
    if BACKEND == "torch" and jit and len(input_shape) == 4:
        # A minute and a half of Inductor per shape on a CPU: images and
        # videos share the compiled paste, and eagerly both are run.
        pytest.skip("videos run eagerly on PyTorch; images cover the compiled paste")
    x, y = classification_data(n=16, input_shape=input_shape)
    model = compile_sgd(
        MixupModel(dense_classifier(input_shape), alpha=0.0, cutmix_alpha=1.0, seed=2),
        jit=jit,
    )
    params = draw_as_in_step(model, 16, (6, 10), jit)
    assert drawn(params).box is not None
    assert np.any(numpy(params.lam) < 1)
    mixed = numpy(paste_boxes(x, drawn(params).box, params))
    probs = numpy(model(mixed, training=True))
    expected = two_term_cross_entropy(probs, y, numpy(params.lam), numpy(params.perm))
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


@JIT
def test_prob_and_switch_prob_follow_timms_semantics(jit):
    model = MixupModel(
        dense_classifier((4, 4, 1)), alpha=1.0, cutmix_alpha=1.0, prob=0.6,
        switch_prob=0.25, seed=0,
    )
    draw = as_in_step(lambda: model.sample_mix_params(32, (4, 4)), jit)
    outcomes = []
    for _ in range(400):
        p = draw()
        lam, box = numpy(p.lam), drawn(p).box
        if np.all(lam == 1.0):
            outcomes.append("off")
            assert not np.any(box[:, 1] > box[:, 0])  # no box either
        else:
            outcomes.append("cutmix" if drawn(p).cutmix.all() else "mixup")
    outcomes = np.array(outcomes)
    mixed = outcomes != "off"

    def close(observed, p, n):  # within 5 binomial standard deviations
        assert abs(observed - p * n) < 5 * np.sqrt(n * p * (1 - p)) + 1, (observed, p, n)

    close(mixed.sum(), 0.6, 400)
    close((outcomes == "cutmix").sum(), 0.25, mixed.sum())
    # A concentration of 0 switches its method off; prob 0 all mixing.
    model.alpha = 0.0
    kinds = set()
    for _ in range(40):
        p = draw()
        kinds.add("off" if np.all(numpy(p.lam) == 1) else bool(drawn(p).cutmix.all()))
    assert kinds == {"off", True}
    model.prob = 0.0
    assert all(np.all(numpy(draw().lam) == 1.0) for _ in range(20))


def test_cutmix_needs_an_image_input():
    x, y = classification_data(n=8)
    model = compile_sgd(MixupModel(dense_classifier(), cutmix_alpha=1.0))
    with pytest.raises(ValueError, match="needs an image input of rank 4"):
        model.fit(x, y, verbose=0)


def _timm_rand_bbox_minmax(height, width, minmax, count, rng):
    """timm's `rand_bbox_minmax` (timm/data/mixup.py), in numpy: sides drawn
    from [int(S * low), int(S * high)), the corner where the box fits."""
    cut_h = rng.integers(int(height * minmax[0]), int(height * minmax[1]), size=count)
    cut_w = rng.integers(int(width * minmax[0]), int(width * minmax[1]), size=count)
    top = rng.integers(0, height - cut_h, size=count)
    left = rng.integers(0, width - cut_w, size=count)
    return np.stack([top, top + cut_h, left, left + cut_w], axis=1)


def _frequencies(values, support):
    return np.array([np.mean(values == v) for v in support])


@JIT
def test_cutmix_minmax_draws_boxes_as_timm_does(jit):
    height, width, n, minmax = 10, 14, 512, (0.25, 0.75)
    draw = as_in_step(
        lambda seed: sample_batch_params(
            n, seed, alpha=0.0, cutmix_alpha=1.0, image_size=(height, width),
            mixup=False, cutmix=True, cutmix_minmax=minmax,
        ),
        jit,
    )
    draws = [draw(seed(step, 3)) for step in range(8)]
    box = np.concatenate([drawn(p).box for p in draws])
    lam = np.concatenate([numpy(p.lam) for p in draws])
    reference = _timm_rand_bbox_minmax(
        height, width, minmax, 20 * len(box), np.random.default_rng(0)
    )
    for sides, size in (((0, 1), height), ((2, 3), width)):
        ours = box[:, sides[1]] - box[:, sides[0]]
        theirs = reference[:, sides[1]] - reference[:, sides[0]]
        support = np.arange(int(size * minmax[0]), int(size * minmax[1]))
        assert set(ours) == set(support)  # the same whole-pixel range
        # The same law: side lengths and corners, within 5 standard errors.
        tolerance = 5 * np.sqrt(0.25 / len(ours))
        np.testing.assert_allclose(
            _frequencies(ours, support), _frequencies(theirs, support), atol=tolerance
        )
        corners = np.arange(size)
        np.testing.assert_allclose(
            _frequencies(box[:, sides[0]], corners),
            _frequencies(reference[:, sides[0]], corners), atol=tolerance,
        )
        # Inside the image, never clipped, as timm places them.
        assert np.all(box[:, sides[1]] < size)
    # The weight is the box's area (timm always corrects it with minmax).
    area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])
    np.testing.assert_allclose(lam, 1 - area / (height * width), atol=1e-6)


@JIT
def test_correct_lam_false_keeps_the_drawn_lambda(jit):
    height, width, n = 8, 12, 256

    def params(correct_lam):
        return as_in_step(
            lambda seed: sample_batch_params(
                n, seed, alpha=0.0, cutmix_alpha=1.0, image_size=(height, width),
                mixup=False, cutmix=True, correct_lam=correct_lam,
            ),
            jit,
        )(seed(5, 1))

    corrected, uncorrected = drawn(params(True)), drawn(params(False))
    np.testing.assert_array_equal(corrected.box, uncorrected.box)
    box, lam = uncorrected.box, uncorrected.lam
    area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])
    np.testing.assert_allclose(corrected.lam, 1 - area / (height * width), atol=1e-6)
    # timm's `cutmix_bbox_and_lam(correct_lam=False)`: the box is cut from
    # the drawn lambda, which is returned as it was, even where clipping
    # shrank the box. An unclipped box has exactly the drawn sides.
    side_h = np.floor(height * np.sqrt(1 - lam)).astype(int)
    side_w = np.floor(width * np.sqrt(1 - lam)).astype(int)
    inside = (box[:, 0] > 0) & (box[:, 1] < height) & (box[:, 2] > 0) & (box[:, 3] < width)
    assert inside.sum() > 10
    np.testing.assert_array_equal((box[:, 1] - box[:, 0])[inside], side_h[inside])
    np.testing.assert_array_equal((box[:, 3] - box[:, 2])[inside], side_w[inside])
    # Clipped boxes paste less than 1 - lam of the image: timm's overweight.
    clipped = ~inside & (side_h > 0) & (side_w > 0)
    assert np.all(1 - lam >= area / (height * width) - 1e-6)
    assert np.any(1 - lam[clipped] > area[clipped] / (height * width) + 0.05)


@JIT
def test_cutmix_knobs_train_save_and_load(jit, tmp_path):
    import keras

    x, y = classification_data(n=16, input_shape=(8, 8, 1))
    model = compile_sgd(
        MixupModel(dense_classifier((8, 8, 1)), alpha=0.0, cutmix_alpha=1.0,
                   cutmix_minmax=(0.3, 0.7), correct_lam=False, seed=1),
        jit=jit,
    )
    params = draw_as_in_step(model, 16, (8, 8), jit)
    sides = drawn(params).box[:, 1] - drawn(params).box[:, 0]
    assert set(sides) <= {2, 3, 4}  # [int(8 * 0.3), int(8 * 0.7))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "knobs.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.cutmix_minmax == (0.3, 0.7) and loaded.correct_lam is False
    assert loaded.mixup_config() == model.mixup_config()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cutmix_alpha": 1.0, "cutmix_minmax": (0.5, 0.2)}, "`cutmix_minmax` must be"),
        ({"cutmix_alpha": 1.0, "cutmix_minmax": (0.0, 0.5)}, "`cutmix_minmax` must be"),
        ({"cutmix_alpha": 1.0, "cutmix_minmax": 0.5}, "`cutmix_minmax` must be"),
        ({"cutmix_minmax": (0.2, 0.5)}, "`cutmix_minmax` is an option of CutMix, so it needs CutMix on"),
        ({"cutmix_alpha": 1.0, "correct_lam": "no"}, "`correct_lam` must be"),
    ],
)
def test_cutmix_knobs_refuse_bad_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixupModel(dense_classifier((8, 8, 1)), **kwargs)


@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_video_cutmix_pastes_one_box_through_all_frames(data_format):
    frames, height, width, n = 3, 6, 10, 32
    # Distinct values per example and frame, so the partner's pixels show.
    x = np.arange(n * frames, dtype="float32").reshape(n, frames, 1, 1, 1) + 1
    x = np.broadcast_to(x, (n, frames, height, width, 2))
    if data_format == "channels_first":
        x = np.moveaxis(x, -1, 1)  # (n, channels, frames, height, width)
    params = sample_batch_params(
        n, seed(0, 4), alpha=0.0, cutmix_alpha=1.0, image_size=(height, width),
        mixup=False, cutmix=True,
    )
    mixed = numpy(paste_boxes(x, drawn(params).box, params, data_format))
    if data_format == "channels_first":
        mixed, x = np.moveaxis(mixed, 1, -1), np.moveaxis(x, 1, -1)
    box, lam, perm = drawn(params).box, numpy(params.lam), numpy(params.perm)
    boxed = 0
    for i in range(n):
        top, bottom, left, right = box[i]
        inside = np.zeros((height, width), bool)
        inside[top:bottom, left:right] = True
        for t in range(frames):  # the same box in every frame: a tube
            np.testing.assert_array_equal(mixed[i, t][inside], x[perm[i], t][inside])
            np.testing.assert_array_equal(mixed[i, t][~inside], x[i, t][~inside])
        assert lam[i] == pytest.approx(1 - inside.sum() / (height * width), abs=1e-6)
        boxed += bool(inside.any()) and perm[i] != i
    assert boxed > n // 2
