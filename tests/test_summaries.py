"""TensorBoard summaries without TensorFlow: the same files as `tf.summary`."""

import importlib.util
import textwrap

import keras
import numpy as np
import pytest
from tensorboard.plugins.scalar.summary_v2 import scalar_pb
from tensorboard.util import tensor_util

from mixup_model import MixupModel
from mixup_model import MixupTensorBoard
from mixup_model.png import encode_png
from mixup_model.png import to_uint8
from mixup_model.summaries import EventSummaries
from mixup_model.versions import release
from tests.backends import BACKEND
from tests.backends import tensorflow_only
from tests.helpers import dense_classifier
from tests.subprocess_utils import child_env
from tests.subprocess_utils import run_python
from tests.tensorboard_files import decode_png
from tests.tensorboard_files import events
from tests.tensorboard_files import steps
from tests.tensorboard_files import values

HAS_TENSORFLOW = importlib.util.find_spec("tensorflow") is not None
needs_tensorflow = pytest.mark.skipif(
    not HAS_TENSORFLOW, reason="compares with TensorFlow's own encoder and writer"
)
summaries = EventSummaries()


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_png_round_trip(channels):
    pixels = np.random.default_rng(channels).integers(0, 256, (5, 7, channels), np.uint8)
    np.testing.assert_array_equal(decode_png(encode_png(pixels)), pixels)


@needs_tensorflow
@tensorflow_only  # TensorFlow beside torch in one process can crash
def test_png_decodes_with_tensorflow():
    import tensorflow as tf

    for channels in (1, 2, 3, 4):
        pixels = np.random.default_rng(0).integers(0, 256, (9, 4, channels), np.uint8)
        np.testing.assert_array_equal(tf.io.decode_png(encode_png(pixels)).numpy(), pixels)
    # Floats saturate to uint8 as tf.summary.image converts them.
    floats = np.linspace(-0.2, 1.2, 60, dtype=np.float32).reshape(1, 6, 10, 1)
    expected = tf.image.convert_image_dtype(floats, tf.uint8, saturate=True).numpy()
    np.testing.assert_array_equal(to_uint8(floats), expected)


def test_png_refuses_what_it_cannot_encode():
    for bad in (np.zeros((4, 4, 5), np.uint8), np.zeros((4, 4), np.uint8),
                np.zeros((4, 4, 3), np.float32), np.zeros((0, 4, 1), np.uint8)):
        with pytest.raises(ValueError, match="Received: pixels.dtype="):
            encode_png(bad)
    with pytest.raises(ValueError, match="Received: images.dtype=int32"):
        to_uint8(np.zeros((2, 2, 1), np.int32))


def test_images_of_every_float_width_and_nan():
    import ml_dtypes  # Keras's and JAX's bfloat16

    values = np.array([[[0.0], [0.5], [1.0], [np.nan]]], np.float32)
    expected = to_uint8(values)
    assert expected[0, :, 0].tolist() == [0, 127, 255, 0]
    for dtype in (np.float16, np.float64, ml_dtypes.bfloat16):
        np.testing.assert_array_equal(to_uint8(values.astype(dtype)), expected)


def _written(tmp_path, write):
    writer = summaries.create_file_writer(str(tmp_path))
    with writer.as_default(step=3):
        result = write()
    writer.close()
    return result, events(str(tmp_path))


def test_scalars_are_written_as_tensorboard_writes_them(tmp_path):
    result, run = _written(tmp_path, lambda: summaries.scalar("loss", np.float64(0.25)))
    assert result is True
    [event] = run.Tensors("loss")
    assert event.step == 3  # the writer's default step
    reference = scalar_pb("loss", 0.25).value[0]
    assert event.tensor_proto == reference.tensor
    assert run.SummaryMetadata("loss") == reference.metadata


def test_images_hold_dimensions_and_pngs(tmp_path):
    images = np.random.default_rng(1).random((5, 4, 6, 3), dtype=np.float32)
    _, run = _written(
        tmp_path, lambda: summaries.image("x", images, step=7, max_outputs=2, description="d")
    )
    [tensor] = values(run, "x")
    assert steps(run, "x") == [7]
    assert tensor[:2].tolist() == [b"6", b"4"]  # width, then height
    assert len(tensor) == 2 + 2
    for png, image in zip(tensor[2:], images):
        np.testing.assert_array_equal(decode_png(png), to_uint8(image))
    assert run.SummaryMetadata("x").summary_description == "d"
    assert run.SummaryMetadata("x").plugin_data.plugin_name == "images"


def test_writes_follow_the_default_writer_and_record_if(tmp_path):
    assert summaries.scalar("orphan", 1.0, step=0) is False  # no default writer
    writer = summaries.create_file_writer(str(tmp_path))
    batch = {"step": 0}
    with writer.as_default(), summaries.record_if(lambda: batch["step"] % 2 == 0):
        for batch["step"] in range(5):
            summaries.scalar("every_other", float(batch["step"]), step=batch["step"])
    with writer.as_default(), pytest.raises(ValueError, match="No step for the summary 'x'"):
        summaries.scalar("x", 1.0)
    step = keras.Variable(4, dtype="int64", trainable=False)  # as optimizer.iterations
    with writer.as_default(step=step):
        summaries.histogram("weights", keras.Variable(np.ones((2, 3))))
    writer.close()
    with writer.as_default(), pytest.raises(ValueError, match="is closed"):
        summaries.scalar("late", 1.0, step=9)
    run = events(str(tmp_path))
    assert steps(run, "every_other") == [0, 2, 4]
    assert steps(run, "weights") == [4]
    assert values(run, "weights")[0][-1, 2] == 6


def _fit_logging(callback, x, y):
    keras.backend.clear_session()  # the same layer names in both runs
    model = MixupModel(dense_classifier(x.shape[1:]), alpha=0.4, seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0,
              validation_data=(x[:8], y[:8]), callbacks=[callback])


@needs_tensorflow
@tensorflow_only
def test_same_curves_as_keras_tensorboard_with_tensorflow(tmp_path):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x, y = rng.random((40, 4, 4, 1), dtype=np.float32), rng.integers(0, 3, 40)
    settings = dict(update_freq=2, histogram_freq=1, write_images=True,
                    write_steps_per_second=True)
    _fit_logging(keras.callbacks.TensorBoard(str(tmp_path / "keras"), **settings), x, y)
    _fit_logging(MixupTensorBoard(str(tmp_path / "ours"), **settings), x, y)
    for run in ("train", "validation"):
        theirs, ours = events(str(tmp_path / "keras" / run)), events(str(tmp_path / "ours" / run))
        keras_tags = set(theirs.Tags()["tensors"])
        assert keras_tags and keras_tags <= set(ours.Tags()["tensors"])
        for tag in keras_tags:
            if tag.startswith("batch_") or tag.startswith("evaluation_"):
                assert steps(ours, tag) == steps(theirs, tag), tag
            else:
                # Every epoch; Keras with update_freq=2 drops the epochs
                # that end on an odd batch (here the first, at batch 5).
                assert steps(ours, tag) == [0, 1], tag
                assert set(steps(theirs, tag)) <= {0, 1}, tag
            assert ours.SummaryMetadata(tag).plugin_data.plugin_name == (
                theirs.SummaryMetadata(tag).plugin_data.plugin_name
            ), tag
            if "per_second" in tag:
                continue  # timings
            ours_values = values(ours, tag)
            if len(ours_values) > len(values(theirs, tag)):  # the epochs Keras drops
                ours_values = [dict(zip(steps(ours, tag), ours_values))[step]
                               for step in steps(theirs, tag)]
            for a, b in zip(ours_values, values(theirs, tag), strict=True):
                if a.dtype == object:  # images: dimensions, then PNGs
                    assert a[:2].tolist() == b[:2].tolist()
                    for png_a, png_b in zip(a[2:], b[2:]):
                        np.testing.assert_array_equal(
                            tf.io.decode_png(png_a).numpy(), tf.io.decode_png(png_b).numpy()
                        )
                else:
                    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7, err_msg=tag)
        assert ours.Tags()["graph"] == theirs.Tags()["graph"]


WITHOUT_TENSORFLOW = textwrap.dedent(
    """
    import json, os, sys
    sys.modules["tensorflow"] = None  # `import tensorflow` raises ImportError
    import keras
    import numpy as np
    from mixup_model import MixupModel, MixupTensorBoard
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 6, 6, 1), dtype=np.float32), rng.integers(0, 3, 32)
    inner = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model = MixupModel(inner, alpha=0.4, seed=0)
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, validation_data=(x, y),
              callbacks=[MixupTensorBoard(sys.argv[1], update_freq=1,
                                          histogram_freq=1, write_images=True)])
    print(json.dumps({"backend": keras.backend.backend(), "keras": keras.__version__,
                      "tensorflow_loaded": sys.modules["tensorflow"] is not None}))
    """
)


@pytest.mark.skipif(BACKEND == "tensorflow", reason="Keras on TensorFlow imports it")
def test_writes_everything_without_tensorflow(tmp_path):
    report = run_python(WITHOUT_TENSORFLOW, str(tmp_path), env=child_env(KERAS_BACKEND=BACKEND))
    assert report["backend"] == BACKEND and report["tensorflow_loaded"] is False
    train = events(str(tmp_path / "train"))
    tags = set(train.Tags()["tensors"])
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate", "batch_loss",
            "epoch_mixup_lambda", "batch_mixup_lambda", "mixup/lambda",
            "mixup/mixed_inputs"} <= tags
    assert any(t.endswith("/histogram") for t in tags)  # histogram_freq
    assert any(t.endswith("/image") for t in tags)  # write_images
    assert steps(train, "epoch_loss") == [0, 1]
    # Keras numbers batch summaries from 1 (Keras 3.6's callback writes
    # them all at step 0, with or without TensorFlow).
    first_numbered = release(report["keras"]) >= (3, 7)
    assert steps(train, "batch_loss") == (list(range(1, 9)) if first_numbered else [0] * 8)
    validation = events(str(tmp_path / "validation"))
    assert steps(validation, "epoch_loss") == [0, 1]
    assert "evaluation_loss_vs_iterations" in validation.Tags()["tensors"]
