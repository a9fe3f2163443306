"""TransMix: CutMix's label weights from the class token's attention, as
the official `transmix_label` computes them, in the compiled step."""

import inspect
import math

import keras
import numpy as np
import pytest
from keras import ops

from mixup_model import MixupModel
from mixup_model.steps import transmix
from mixup_model.methods import cutmix
from mixup_model.mixing import mix_inputs
from mixup_model.params import MixParams
from tests.backends import JIT_COMPILE
from tests.backends import JIT_IDS
from tests.backends import numpy
from tests.helpers import NUM_CLASSES
from tests.helpers import draw_as_in_step
from tests.helpers import drawn
from tests.helpers import one_hot

IMAGE = (8, 8, 1)
BATCH = 8


def transmix_label(y1, y2, attn, box, image_size):
    """numpy statement of Beckschen/TransMix `transmix.py`,
    `Mixup_transmix.transmix_label`, for one box per example: `y1` the
    own (background) labels, `y2` the partners' (pasted), `attn` the class
    token's attention `(N, hw)`, `box` rows `(yl, yh, xl, xh)`."""
    height, width = image_size
    side = int(math.sqrt(attn.shape[1]))
    targets = []
    for i, (yl, yh, xl, xh) in enumerate(box):
        lam0 = (yh - yl) * (xh - xl) / (height * width)
        mask = np.zeros((height, width))
        mask[yl:yh, xl:xh] = 1
        # nn.Upsample(size=side), mode "nearest": source index floor(i * in / out).
        rows = np.floor(np.arange(side) * (height / side)).astype(int)
        cols = np.floor(np.arange(side) * (width / side)).astype(int)
        grid = mask[rows][:, cols].reshape(-1)
        w1, w2 = np.sum((1 - grid) * attn[i]), np.sum(grid * attn[i])
        lam = (lam0 + w2 / (w1 + w2)) / 2
        targets.append(y1[i] * (1.0 - lam) + y2[i] * lam)
    return np.stack(targets)


@keras.saving.register_keras_serializable(package="tests")
class ClassToken(keras.layers.Layer):
    """Prepends a learned class token to a sequence of patch embeddings."""

    def build(self, input_shape):
        self.token = self.add_weight(shape=(1, 1, input_shape[-1]), initializer="random_normal")

    def call(self, x):
        token = ops.tile(ops.cast(self.token, x.dtype), (ops.shape(x)[0], 1, 1))
        return ops.concatenate([token, x], axis=1)


def small_vit(patch=2, dim=8, heads=2):
    """A one-block ViT of Keras layers, and a probe with its attention."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input(IMAGE)
    tokens = keras.layers.Conv2D(dim, patch, strides=patch)(inputs)
    tokens = ClassToken()(keras.layers.Reshape((-1, dim))(tokens))
    # Peaked attention (large query and key weights) and confident
    # predictions (but none below Keras's clipping of 1e-7): the loss tells
    # TransMix's weights from the areas'.
    attention = keras.layers.MultiHeadAttention(
        heads, dim // heads, name="attention",
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.5, seed=1),
    )
    attended = attention(tokens, tokens)
    outputs = keras.layers.Dense(
        NUM_CLASSES, activation="softmax", name="head",
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=2),
    )(keras.layers.LayerNormalization()(attended[:, 0]))
    token_model = keras.Model(inputs, tokens)

    def scores_of(images):
        embedded = token_model(images)
        return attention(embedded, embedded, return_attention_scores=True)[1]

    return inputs, outputs, scores_of


def _expected_loss(model, scores_of, x, y, params):
    """The mixed step's cross-entropy with TransMix's targets, from numpy."""
    mixed = numpy(mix_inputs(x, params))
    probs = numpy(model(mixed, training=False))
    attn = numpy(scores_of(mixed))[:, :, 0, 1:].mean(axis=1)
    params = drawn(params)
    perm, box, lam = params.perm, params.box, params.lam
    targets = transmix_label(y, y[perm], attn, box, IMAGE[:2])
    if params.cutmix is not None:
        cut = params.cutmix
        blended = lam[:, None] * y + (1 - lam[:, None]) * y[perm]
        targets = np.where(cut[:, None], targets, blended)
    return np.mean(-np.sum(targets * np.log(probs), axis=1))


CUTMIX = dict(alpha=0.0, cutmix_alpha=1.0)
PER_EXAMPLE = dict(alpha=1.0, cutmix_alpha=1.0, mode="elem")


@pytest.mark.parametrize(
    "settings, jit",
    # CutMix under both compile settings; mixup and CutMix per example
    # (where mixup examples keep their lambda) under the backend's default.
    [(CUTMIX, JIT_COMPILE[0]), (CUTMIX, JIT_COMPILE[1]), (PER_EXAMPLE, JIT_COMPILE[0])],
    ids=[f"cutmix-{JIT_IDS[0]}", f"cutmix-{JIT_IDS[1]}", f"elem-{JIT_IDS[0]}"],
)
def test_label_weights_are_transmix_label_on_the_captured_attention(settings, jit):
    inputs, outputs, probe = small_vit()
    model = MixupModel(inputs=inputs, outputs=outputs, transmix_layer="attention", seed=3, **settings)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy", jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH,) + IMAGE, dtype=np.float32)
    y = one_hot(rng.integers(0, NUM_CLASSES, BATCH))
    model.train_on_batch(x[:2], y[:2])  # traced once; its draw is spent
    params = draw_as_in_step(model, BATCH, IMAGE[:2], jit=jit)
    model.reset_metrics()  # the loss of this step alone (Keras < 3.7 keeps the mean)
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    expected = _expected_loss(model, probe, x, y, params)
    np.testing.assert_allclose(loss, expected, rtol=2e-5)
    # Not CutMix's area weights: the attention moved them, and the loss
    # tells the two apart by far more than its tolerance.
    probs = numpy(model(numpy(mix_inputs(x, params)), training=False))
    lam = numpy(params.lam)[:, None]
    area_targets = lam * y + (1 - lam) * y[numpy(params.perm)]
    area_loss = np.mean(-np.sum(area_targets * np.log(probs), axis=1))
    assert abs(expected - area_loss) > 1e-3


def test_box_on_grid_is_nearest_downsampling():
    # A 10x10 image on a 4x4 grid: grid row r reads image row floor(2.5 r).
    params_box = np.array([[3, 8, 0, 5], [0, 0, 0, 0]], "int32")
    grid = numpy(transmix.box_on_grid(params_box, (10, 10), (4, 4))).reshape(2, 4, 4)
    rows = np.floor(np.arange(4) * 2.5).astype(int)  # 0, 2, 5, 7
    mask = np.zeros((10, 10))
    mask[3:8, 0:5] = 1
    np.testing.assert_array_equal(grid[0], mask[rows][:, rows])
    assert grid[1].sum() == 0  # an empty box: no pasted patch


def test_own_weights_against_the_official_formula():
    rng = np.random.default_rng(2)
    scores = rng.random((3, 2, 17, 17)).astype("float32")
    scores /= scores.sum(-1, keepdims=True)
    box = np.array([[0, 4, 0, 4], [2, 8, 1, 3], [0, 0, 0, 0]], "int32")
    params = MixParams(
        lam=np.ones(3, "float32"), perm=np.array([1, 2, 0], "int32"), regions=(cutmix.Boxes(box),)
    )
    own = numpy(transmix.own_weights(params, scores, (8, 8), (4, 4)))
    eye = np.eye(3)
    expected = transmix_label(eye, np.zeros((3, 3)), scores[:, :, 0, 1:].mean(1), box, (8, 8))
    np.testing.assert_allclose(own, expected.diagonal(), rtol=1e-6)
    assert own[2] == 1.0  # nothing pasted: its own label whole


def test_settings_are_checked():
    inputs, outputs, _ = small_vit()
    with pytest.raises(ValueError, match="needs CutMix on"):
        MixupModel(inputs=inputs, outputs=outputs, alpha=0.2, transmix_layer="attention")
    with pytest.raises(ValueError, match="Received: transmix_layer=3"):
        MixupModel(inputs=inputs, outputs=outputs, cutmix_alpha=1.0, transmix_layer=3)
    model = MixupModel(inputs=inputs, outputs=outputs, cutmix_alpha=1.0, transmix_layer="head")
    model.compile("sgd", "categorical_crossentropy")
    x = np.zeros((4,) + IMAGE, "float32")
    with pytest.raises(ValueError, match="holds 0"):
        model.train_on_batch(x, one_hot(np.arange(4) % NUM_CLASSES))
    # The patch grid comes from the patch embedding (4x4 patches of 2x2
    # pixels here); an attention without a class token before the patches
    # is refused with the layout it saw.
    assert transmix.patch_grid_of(model, (8, 8), "attention") == (4, 4)
    with pytest.raises(ValueError, match="sees 16 tokens, and the 8x8 images have 4x4 = 16 patches: no class token"):
        transmix.check_token_layout(16, (4, 4), (8, 8), "attention")
    transmix.check_token_layout(18, (4, 4), (8, 8), "attention")  # [class, distillation, patches]
    plain = keras.Sequential([keras.Input(IMAGE), keras.layers.Flatten(), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="patch embedding.*This model has none"):
        transmix.patch_grid_of(plain, (8, 8), "attention")


def test_with_regmixup_the_mixed_half_takes_its_own_attention():
    # The attention layer sees clean and mixed halves; TransMix reads the
    # mixed half's: the loss is L(clean) + eta * (TransMix's mixed loss).
    inputs, outputs, probe = small_vit()
    model = MixupModel(inputs=inputs, outputs=outputs, alpha=0.0, cutmix_alpha=1.0,
                       regmixup_eta=2.0, transmix_layer="attention", seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy")
    rng = np.random.default_rng(3)
    x = rng.random((BATCH,) + IMAGE, dtype=np.float32)
    y = one_hot(rng.integers(0, NUM_CLASSES, BATCH))
    model.train_on_batch(x[:2], y[:2])
    params = draw_as_in_step(model, BATCH, IMAGE[:2], jit=JIT_COMPILE[0])
    model.reset_metrics()
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    clean = np.mean(-np.sum(y * np.log(numpy(model(x, training=False))), axis=1))
    mixed = _expected_loss(model, probe, x, y, params)
    np.testing.assert_allclose(loss, clean + 2.0 * mixed, rtol=2e-5)


def test_flash_attention_is_refused_by_name():
    options = inspect.signature(keras.layers.MultiHeadAttention.__init__).parameters
    if "flash_attention" not in options:  # Keras before 3.7
        pytest.skip("this Keras's MultiHeadAttention has no flash_attention option")
    attention = keras.layers.MultiHeadAttention(2, 4, flash_attention=True, name="flash")
    inputs = keras.Input((4, 8))
    model = keras.Model(inputs, attention(inputs, inputs))
    with pytest.raises(ValueError, match="`transmix_layer`='flash' computes flash attention"):
        transmix.find_attention_layer(model, "flash")
