"""KerasHub models as clients: tasks keep their preprocessing, vision
transformers train with TransMix (ViT, DeiT), and a ResNet classifier with
a recipe of methods and RegMixup; each trains, evaluates, saves and reloads,
from small configs and no downloads."""

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import MixupStatistics
from mixup_model import mix_inputs
from tests.backends import BACKEND
from tests.backends import JIT_COMPILE
from tests.backends import numpy
from tests.helpers import assert_weights_equal
from tests.helpers import draw_as_in_step
from tests.helpers import drawn
from tests.helpers import one_hot
from tests.test_transmix import transmix_label

keras_hub = pytest.importorskip("keras_hub")

# keras-hub tasks compile themselves in `__init__`, so loading one says that
# its custom `compile` was not called from the saved config, and that its
# unused optimizer has no variables to load.
pytestmark = [
    pytest.mark.filterwarnings("ignore:`compile\\(\\)` was not called:UserWarning"),
    pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer:UserWarning"),
    # KerasHub's `fit` maps the preprocessor over a `tf.data` pipeline of
    # the arrays, unshuffled, for the task itself too.
    pytest.mark.filterwarnings("ignore:`shuffle=True` was passed:UserWarning"),
]

CLASSES = 4
SIZE = (16, 16)
RAW = (20, 24, 3)  # what the preprocessor resizes and rescales
BATCH = 8


def _raw_images(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n,) + RAW).astype("float32"), rng.integers(0, CLASSES, n)


def vit_task(use_class_token=True, preprocessor=True, seed=0, activation=None):
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=SIZE + (3,), patch_size=4, num_layers=1, num_heads=2, hidden_dim=8,
        mlp_dim=16, use_class_token=use_class_token,
    )
    converter = keras_hub.layers.ViTImageConverter(image_size=SIZE, scale=1 / 255)
    return keras_hub.models.ViTImageClassifier(
        backbone, num_classes=CLASSES, activation=activation,
        pooling="token" if use_class_token else "gap",
        preprocessor=keras_hub.models.ViTImageClassifierPreprocessor(converter) if preprocessor else None,
    )


def deit_task(seed=0):
    keras.utils.set_random_seed(seed)
    backbone = keras_hub.models.DeiTBackbone(
        image_shape=SIZE + (3,), patch_size=4, num_layers=2, num_heads=2, hidden_dim=8,
        intermediate_dim=16,
    )
    return keras_hub.models.DeiTImageClassifier(backbone, num_classes=CLASSES, activation="softmax")


def _logits_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _compile(model, jit=False, lr=0.1):
    model.compile(keras.optimizers.SGD(lr), _logits_loss(), metrics=["accuracy"], jit_compile=jit)
    return model


def assert_same_predictions(observed, expected):
    # The same computation, compiled as another function: equal to float32
    # rounding (bit for bit where the compiler fuses both alike).
    np.testing.assert_allclose(observed, expected, rtol=1e-5, atol=1e-6)


def _saved_and_loaded(model, tmp_path, name):
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    return keras.models.load_model(path)


def test_a_wrapped_image_task_trains_on_its_preprocessed_batches(tmp_path):
    x, y = _raw_images()
    # Without mixing (alpha = 0) the step is the task's own: the same
    # weights after an epoch on the same preprocessed batches.
    task = _compile(vit_task())
    model = _compile(MixupModel(vit_task(), alpha=0.0))
    assert isinstance(model, MixupModel)
    task.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    for expected, observed in zip(task.get_weights(), model.model.get_weights(), strict=True):
        np.testing.assert_allclose(observed, expected, rtol=1e-5, atol=1e-6)
    # And it predicts and evaluates exactly as the task does.
    assert_same_predictions(model.predict(x, verbose=0), task.predict(x, verbose=0))
    np.testing.assert_allclose(
        model.evaluate(x, y, verbose=0), task.evaluate(x, y, verbose=0), rtol=1e-6
    )

    # With mixup, each batch is mixed after the preprocessing: the step's
    # mixed images are the resized ones, in [0, 1].
    mixed = _compile(MixupModel(vit_task(), alpha=1.0, seed=0))
    statistics = MixupStatistics(num_images=4, image_shape=SIZE + (3,))
    mixed.set_mixup_statistics(statistics)
    mixed.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, validation_data=(x, y))
    images = statistics.captured_images()[0]
    assert images.shape == (4,) + SIZE + (3,) and 0.0 <= images.min() and images.max() <= 1.0
    assert statistics.results()["mixup_lambda"] < 1.0

    # The preprocessor is saved with the task, and reloaded.
    loaded = _saved_and_loaded(mixed, tmp_path, "vit")
    assert isinstance(loaded, MixupModel) and loaded.alpha == 1.0
    assert isinstance(loaded.preprocessor, keras_hub.models.ViTImageClassifierPreprocessor)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), mixed.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    _compile(loaded).fit(x, y, batch_size=BATCH, epochs=1, verbose=0)

    # `preprocessor = None` on the task turns preprocessing off, as for it.
    resized = np.asarray(keras.ops.image.resize(x, SIZE)) / 255.0
    model.model.preprocessor = None
    assert model.preprocessor is None
    np.testing.assert_allclose(
        model.predict(resized, verbose=0), numpy(model.model(resized)), rtol=1e-5, atol=1e-6
    )


def _bert_task(seed=0):
    keras.utils.set_random_seed(seed)
    vocabulary = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "quick", "brown", "fox",
                  "lazy", "dog", "jumps", "over", "."]
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary)
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=8)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=len(vocabulary), num_layers=1, num_heads=2, hidden_dim=8,
        intermediate_dim=16, max_sequence_length=8, dropout=0.0,
    )
    return keras_hub.models.BertTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, dropout=0.0
    )


TEXT = np.array(["the quick brown fox", "the lazy dog", "quick fox jumps over the dog .",
                 "the dog", "brown fox .", "the lazy brown dog jumps", "fox", "over the fox"] * 2)
TEXT_LABELS = np.array([0, 1, 0, 1, 0, 1, 0, 0] * 2)


def test_a_text_task_takes_raw_strings_and_mixes_its_token_embeddings(tmp_path):
    # Token ids cannot be blended: the error names the embedding to mix.
    # (A task of its own: on JAX, a `fit` that fails leaves its model's
    # variables released.)
    with pytest.raises(ValueError, match="mix_layer='token_embedding'"):
        _compile(MixupModel(_bert_task(), alpha=1.0)).train_on_batch(TEXT[:BATCH], TEXT_LABELS[:BATCH])
    task = _bert_task()
    model = _compile(MixupModel(task, alpha=1.0, seed=1, mix_layer="token_embedding"), lr=0.5)
    history = model.fit(TEXT, TEXT_LABELS, batch_size=BATCH, epochs=2, verbose=0,
                        validation_data=(TEXT, TEXT_LABELS))
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["loss"] != history.history["val_loss"]
    assert_same_predictions(model.predict(TEXT, verbose=0), task.predict(TEXT, verbose=0))
    _compile(task)
    np.testing.assert_allclose(
        model.evaluate(TEXT, TEXT_LABELS, verbose=0), task.evaluate(TEXT, TEXT_LABELS, verbose=0),
        rtol=1e-6,
    )
    loaded = _saved_and_loaded(model, tmp_path, "bert")
    assert loaded.mix_layer == "token_embedding"
    assert isinstance(loaded.preprocessor, keras_hub.models.BertTextClassifierPreprocessor)
    assert_weights_equal(loaded, model)
    np.testing.assert_allclose(loaded.predict(TEXT, verbose=0), model.predict(TEXT, verbose=0),
                               rtol=1e-5, atol=1e-6)
    _compile(loaded).fit(TEXT, TEXT_LABELS, batch_size=BATCH, epochs=1, verbose=0)


def _recorded_attention(attention_layer, model, images):
    """The attention scores of `attention_layer` in a forward pass of
    `model` on `images` (the step's own pass, recomputed: nothing in it is
    random)."""
    recorded = {}
    call = attention_layer.call

    def record(*args, **kwargs):
        wanted = kwargs.get("return_attention_scores", False)
        kwargs["return_attention_scores"] = True
        out, scores = call(*args, **kwargs)
        recorded["scores"] = scores
        return (out, scores) if wanted else out

    object.__setattr__(attention_layer, "call", record)
    try:
        probs = numpy(model(images, training=False))
    finally:
        object.__setattr__(attention_layer, "call", call)
    return probs, numpy(recorded["scores"])


def _check_transmix_step(model, attention_layer, patches, jit, seed=0):
    """The compiled step's loss is the cross-entropy against the official
    `transmix_label` on the class token's attention to the patches."""
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="categorical_crossentropy", jit_compile=jit)
    rng = np.random.default_rng(seed)
    x = rng.random((BATCH,) + SIZE + (3,), dtype=np.float32)
    y = one_hot(rng.integers(0, CLASSES, BATCH), CLASSES)
    model.train_on_batch(x[:2], y[:2])  # traced once; its draw is spent
    params = draw_as_in_step(model, BATCH, SIZE, jit=jit)
    model.reset_metrics()
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    probs, scores = _recorded_attention(attention_layer, model, numpy(mix_inputs(x, params)))
    attn = scores[:, :, 0, -patches:].mean(axis=1)  # the class token's row, the patches
    targets = transmix_label(y, y[numpy(params.perm)], attn, drawn(params).box, SIZE)
    np.testing.assert_allclose(loss, np.mean(-np.sum(targets * np.log(probs), axis=1)), rtol=2e-5)


def test_deit_trains_with_transmix_on_its_class_tokens_attention(tmp_path):
    # DeiT's tokens are [class, distillation, 16 patches]: TransMix reads the
    # class token's attention to the 16 patches. In the step compiled by
    # XLA or `jax.jit`; on PyTorch eagerly (dynamo takes minutes to trace
    # DeiT's step on a CPU; tests/test_transmix.py compiles a ViT's).
    task = deit_task()
    model = MixupModel(task, alpha=0.0, cutmix_alpha=1.0, transmix_layer="transformer_block_2", seed=1)
    attention = task.backbone.get_layer("deit_encoder").encoder_layers[-1].mha
    _check_transmix_step(model, attention, patches=16, jit=BACKEND != "torch")
    x, y = _raw_images(seed=2)
    x = x[:, : SIZE[0], : SIZE[1]] / 255.0
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=False)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert len(model.evaluate(x, y, verbose=0)) == 2
    loaded = _saved_and_loaded(model, tmp_path, "deit")
    assert loaded.transmix_layer == "transformer_block_2"
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_vit_trains_with_transmix_and_a_vit_without_a_class_token_is_refused(tmp_path):
    task = vit_task(preprocessor=False, activation="softmax")
    model = MixupModel(task, alpha=0.0, cutmix_alpha=1.0, transmix_layer="transformer_block_1", seed=2)
    attention = task.backbone.get_layer("vit_encoder").encoder_layers[-1].mha
    _check_transmix_step(model, attention, patches=16, jit=JIT_COMPILE[0], seed=1)
    loaded = _saved_and_loaded(model, tmp_path, "vit_transmix")
    assert loaded.transmix_layer == "transformer_block_1"

    pooled = MixupModel(vit_task(use_class_token=False, preprocessor=False, activation="softmax"),
                        alpha=0.0, cutmix_alpha=1.0, transmix_layer="transformer_block_1")
    pooled.compile("sgd", "categorical_crossentropy")
    x = np.zeros((BATCH,) + SIZE + (3,), "float32")
    message = (r"`transmix_layer`='transformer_block_1' has no class token: it sees 16 tokens, "
               r"and the 16x16 images have 4x4 = 16 patches: no class token")
    with pytest.raises(ValueError, match=message):
        pooled.train_on_batch(x, one_hot(np.arange(BATCH) % CLASSES, CLASSES))


def test_a_resnet_classifier_trains_with_a_recipe_of_methods_and_regmixup(tmp_path):
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ResNetBackbone(
        input_conv_filters=[64], input_conv_kernel_sizes=[3], stackwise_num_filters=[64, 16],
        stackwise_num_blocks=[1, 1], stackwise_num_strides=[1, 2], block_type="basic_block",
        image_shape=SIZE + (3,),
    )
    converter = keras_hub.layers.ResNetImageConverter(image_size=SIZE, scale=1 / 255)
    task = keras_hub.models.ResNetImageClassifier(
        backbone, num_classes=CLASSES,
        preprocessor=keras_hub.models.ResNetImageClassifierPreprocessor(converter),
    )
    model = MixupModel(
        task, alpha=1.0, cutmix_alpha=1.0, resizemix_alpha=1.0, fmix_alpha=1.0, mode="elem",
        method_probs={"mixup": 0.25, "cutmix": 0.25, "resizemix": 0.25, "fmix": 0.25},
        regmixup_eta=1.0, seed=3,
    )
    x, y = _raw_images(seed=3)
    history = _compile(model, lr=0.01).fit(x, y, batch_size=BATCH, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert_same_predictions(model.predict(x, verbose=0), task.predict(x, verbose=0))
    loaded = _saved_and_loaded(model, tmp_path, "resnet")
    assert loaded.mixup_config() == model.mixup_config()
    np.testing.assert_allclose(loaded.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0),
                               rtol=1e-5)
