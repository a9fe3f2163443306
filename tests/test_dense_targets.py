"""Per-pixel targets (segmentation masks): CutMix pastes the box into the
target as into the image, mixup blends one-hot masks or weighs the two
masks' losses, and per-pixel sample weights follow their pixels."""

import keras
import numpy as np
import pytest

from mixup_model import MixParams
from mixup_model.methods.cutmix import Boxes
from mixup_model import MixupModel
from mixup_model import mix_inputs
from mixup_model import mix_targets
from tests.backends import JIT
from tests.backends import JIT_COMPILE
from tests.backends import JIT_IDS
from tests.backends import numpy
from tests.helpers import drawn
from tests.helpers import assert_fits_saves_and_loads
from tests.helpers import compile_sgd
from tests.helpers import draw_as_in_step

HEIGHT, WIDTH, CLASSES, N = 8, 12, 3, 16


# Logits and `from_logits=True`: Keras's sparse cross-entropy on per-pixel
# probabilities fails in PyTorch's backward (pytorch/pytorch#175084).
SPARSE_LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
DENSE_LOSS = keras.losses.CategoricalCrossentropy(from_logits=True)


def encoder_decoder(seed=0):
    """A small encoder-decoder: (H, W, 1) images to (H, W, K) logits."""
    init = keras.initializers.GlorotUniform(seed)
    return keras.Sequential(
        [
            keras.Input((HEIGHT, WIDTH, 1)),
            keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu",
                                kernel_initializer=init),
            keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same",
                                         activation="relu", kernel_initializer=init),
            keras.layers.Conv2D(CLASSES, 1, kernel_initializer=init),
        ]
    )


def segmentation_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(N, HEIGHT, WIDTH, 1)).astype("float32")
    masks = rng.integers(0, CLASSES, size=(N, HEIGHT, WIDTH)).astype("int32")
    return x, masks


def box_masks(box):
    """numpy (n, H, W) bools from (n, 4) boxes."""
    inside = np.zeros((len(box), HEIGHT, WIDTH), bool)
    for i, (top, bottom, left, right) in enumerate(box):
        inside[i, top:bottom, left:right] = True
    return inside


def own_weight_maps(params):
    """numpy statement of each pixel's weight of its own mask: 0 inside a
    CutMix example's box and 1 outside, lam everywhere for a blended one."""
    lam = numpy(params.lam)
    own = np.broadcast_to(lam[:, None, None], (len(lam), HEIGHT, WIDTH)).copy()
    if drawn(params).box is None:
        return own
    chosen = drawn(params).cutmix  # None: CutMix alone
    cutmix = np.ones(lam.shape, bool) if chosen is None else chosen
    cut = box_masks(drawn(params).box)
    own[cutmix] = (~cut[cutmix]).astype("float32")
    return own


def pixel_cross_entropy(logits, masks):
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=-1, keepdims=True))
    rows = np.indices(masks.shape)
    return -log_probs[rows[0], rows[1], rows[2], masks]


def test_cutmix_pastes_the_box_into_integer_and_one_hot_masks():
    rng = np.random.default_rng(1)
    masks = rng.integers(0, CLASSES, size=(4, HEIGHT, WIDTH)).astype("int32")
    y_pred = np.full((4, HEIGHT, WIDTH, CLASSES), 1 / CLASSES, "float32")
    box = np.array([[1, 5, 2, 9], [0, 8, 0, 12], [3, 4, 6, 7], [0, 0, 0, 0]], "int32")
    params = MixParams(
        lam=np.array([1 - 28 / 96, 0.0, 1 - 1 / 96, 1.0], "float32"),
        perm=np.array([2, 3, 0, 1], "int32"), regions=(Boxes(box),),
    )
    inside = box_masks(box)
    pasted = np.where(inside, masks[params.perm], masks)
    for y in (masks, masks[..., None], np.eye(CLASSES, dtype="float32")[masks]):
        mixed = mix_targets(y, y_pred, None, params, cut_dims=(HEIGHT, WIDTH))
        metric_y = numpy(mixed.metric_y).reshape(numpy(y).shape)
        expected = pasted if y.dtype == "int32" else np.eye(CLASSES)[pasted]
        # Pixel by pixel: the partner's class inside the box, its own outside.
        np.testing.assert_array_equal(metric_y, expected.reshape(metric_y.shape))
    # Integer masks: two per-pixel loss terms whose weights are the box.
    (own_y, own_w), (partner_y, partner_w) = mix_targets(
        masks, y_pred, None, params, cut_dims=(HEIGHT, WIDTH)
    ).loss_terms
    np.testing.assert_array_equal(numpy(own_w), (~inside).astype("float32"))
    np.testing.assert_array_equal(numpy(partner_w), inside.astype("float32"))
    np.testing.assert_array_equal(numpy(partner_y), masks[params.perm])


def test_per_pixel_sample_weights_follow_their_pixels():
    rng = np.random.default_rng(2)
    masks = rng.integers(0, CLASSES, size=(2, HEIGHT, WIDTH)).astype("int32")
    weights = rng.uniform(0.5, 2.0, size=(2, HEIGHT, WIDTH)).astype("float32")
    y_pred = np.full((2, HEIGHT, WIDTH, CLASSES), 1 / CLASSES, "float32")
    box = np.array([[2, 6, 3, 8], [0, 0, 0, 0]], "int32")
    params = MixParams(
        lam=np.array([1 - 20 / 96, 1.0], "float32"), perm=np.array([1, 0], "int32"),
        regions=(Boxes(box),),
    )
    inside = box_masks(box)
    for y in (masks, np.eye(CLASSES, dtype="float32")[masks]):
        mixed = mix_targets(y, y_pred, weights, params, cut_dims=(HEIGHT, WIDTH))
        (_, own_w), (_, partner_w) = mixed.loss_terms
        np.testing.assert_array_equal(numpy(own_w), np.where(inside, 0, weights))
        np.testing.assert_array_equal(numpy(partner_w), np.where(inside, weights[[1, 0]], 0))
        # Each pixel keeps the weight of the example whose pixel it is.
        np.testing.assert_array_equal(
            numpy(mixed.metric_sample_weight), np.where(inside, weights[[1, 0]], weights)
        )


SEGMENTATION_SETTINGS = {
    "cutmix": dict(alpha=0.0, cutmix_alpha=1.0),
    "mixup": dict(alpha=1.0),
    "elem": dict(alpha=1.0, cutmix_alpha=1.0, mode="elem"),
}
# Every method and target in the backend's default step; in the other
# (slow to compile) setting, each method once and both kinds of target.
SEGMENTATION_CASES = [
    pytest.param(JIT_COMPILE[0], target, method, id=f"{method}-{target}-{JIT_IDS[0]}")
    for method in SEGMENTATION_SETTINGS
    for target in ("ids", "one_hot")
] + [
    pytest.param(JIT_COMPILE[1], target, method, id=f"{method}-{target}-{JIT_IDS[1]}")
    for method, target in (("cutmix", "ids"), ("mixup", "one_hot"), ("elem", "ids"))
]


@pytest.mark.parametrize("jit, target, method", SEGMENTATION_CASES)
def test_encoder_decoder_trains_on_per_pixel_mixed_masks(jit, target, method):
    settings = SEGMENTATION_SETTINGS[method]
    x, masks = segmentation_data()
    y = masks if target == "ids" else np.eye(CLASSES, dtype="float32")[masks]
    loss = SPARSE_LOSS if target == "ids" else DENSE_LOSS
    model = compile_sgd(MixupModel(encoder_decoder(), seed=3, **settings), loss=loss, jit=jit)
    image_size = (HEIGHT, WIDTH) if settings.get("cutmix_alpha") else None
    params = draw_as_in_step(model, N, image_size, jit)
    own = own_weight_maps(params)
    assert np.any(own < 1)
    if settings.get("cutmix_alpha"):
        assert np.any(own == 0)  # some pixels are the partner's
    logits = numpy(model(numpy(mix_inputs(x, params)), training=True))
    perm = numpy(params.perm)
    # The per-pixel two-term loss; for one-hot masks it is the loss on the
    # blended (in a box: pasted) mask, the same number.
    expected = np.mean(
        own * pixel_cross_entropy(logits, masks)
        + (1 - own) * pixel_cross_entropy(logits, masks[perm])
    )
    result = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(result, expected, rtol=2e-4)


@JIT
def test_per_pixel_sample_weights_in_the_train_step(jit):
    x, masks = segmentation_data(seed=4)
    weights = np.random.default_rng(5).uniform(0.5, 2.0, size=masks.shape).astype("float32")
    model = compile_sgd(MixupModel(encoder_decoder(), alpha=0.0, cutmix_alpha=1.0, seed=6),
                        loss=SPARSE_LOSS, jit=jit)
    params = draw_as_in_step(model, N, (HEIGHT, WIDTH), jit)
    own = own_weight_maps(params)
    perm = numpy(params.perm)
    logits = numpy(model(numpy(mix_inputs(x, params)), training=True))
    expected = np.mean(
        own * weights * pixel_cross_entropy(logits, masks)
        + (1 - own) * weights[perm] * pixel_cross_entropy(logits, masks[perm])
    )
    result = model.train_on_batch(x, masks, sample_weight=weights, return_dict=True)["loss"]
    np.testing.assert_allclose(result, expected, rtol=2e-4)


def test_segmentation_model_fits_saves_and_loads(tmp_path):
    x, masks = segmentation_data()
    model = compile_sgd(
        MixupModel(encoder_decoder(), alpha=0.4, cutmix_alpha=1.0, mode="elem", seed=1),
        loss=SPARSE_LOSS,
        metrics=["accuracy"],
    )
    assert_fits_saves_and_loads(model, x, masks, str(tmp_path / "segmentation.keras"))


def test_an_output_at_another_resolution_is_not_per_pixel():
    # A (H/2, W/2) output cannot take the image's box: its targets keep the
    # per-example weight, the pasted area.
    params = MixParams(
        lam=np.array([0.75, 1.0], "float32"), perm=np.array([1, 0], "int32"),
        regions=(Boxes(np.array([[0, 4, 0, 6], [0, 0, 0, 0]], "int32")),),
    )
    masks = np.zeros((2, HEIGHT // 2, WIDTH // 2), "int32")
    y_pred = np.full((2, HEIGHT // 2, WIDTH // 2, CLASSES), 1 / CLASSES, "float32")
    (_, own_w), _ = mix_targets(masks, y_pred, None, params, cut_dims=(HEIGHT, WIDTH)).loss_terms
    np.testing.assert_array_equal(numpy(own_w).reshape(2, -1)[:, 0], [0.75, 1.0])


def test_tensorboard_statistics_show_images_without_classes_for_masks():
    from mixup_model import MixupStatistics

    x, masks = segmentation_data()
    model = compile_sgd(
        MixupModel(encoder_decoder(), alpha=0.0, cutmix_alpha=1.0, seed=1), loss=SPARSE_LOSS
    )
    statistics = MixupStatistics(num_images=2, image_shape=(HEIGHT, WIDTH, 1))
    model.set_mixup_statistics(statistics)
    model.fit(x, masks, batch_size=8, epochs=1, verbose=0)
    images, primary, partner, weight = statistics.captured_images()
    assert images.shape == (2, HEIGHT, WIDTH, 1)
    # No class per example to name: the captions give the weights only.
    np.testing.assert_array_equal(primary, [-1, -1])
    np.testing.assert_array_equal(partner, [-1, -1])
    model.set_mixup_statistics(MixupStatistics(num_images=0, clean_accuracy=True))
    with pytest.raises(ValueError, match="clean_accuracy"):
        model.fit(x, masks, batch_size=8, epochs=1, verbose=0)
