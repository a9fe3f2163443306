"""MixupTensorBoard: what mixup did, readable in TensorBoard."""

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import MixupTensorBoard
from mixup_model.tensorboard import IMAGES_TAG
from mixup_model.tensorboard import LAMBDA_HISTOGRAM_TAG
from mixup_model.tensorboard import caption
from mixup_model.tensorboard import image_grid
from tests.backends import BACKEND
from tests.backends import JIT
from tests.backends import as_in_step
from tests.backends import once_in
from tests.backends import numpy
from tests.backends import tensorflow_only
from tests.helpers import dense_classifier
from tests.subprocess_utils import child_env
from tests.subprocess_utils import free_port
from tests.subprocess_utils import run_python
from tests.tensorboard_files import decode_png
from tests.tensorboard_files import events as _events
from tests.tensorboard_files import values as _values

NAMES = ["Coat", "Shirt", "Bag"]
IMAGE_SHAPE = (6, 6, 1)


def _images(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + IMAGE_SHAPE, dtype=np.float32), rng.integers(0, 3, n)


def _fit(model, log_dir, x, y, jit=False, epochs=2, **callback_kwargs):
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"], jit_compile=jit)
    callback = MixupTensorBoard(log_dir, class_names=NAMES, **callback_kwargs)
    return model.fit(
        x, y, batch_size=8, epochs=epochs, shuffle=False, verbose=0,
        validation_data=(x, y), callbacks=[callback],
    )


@JIT
def test_event_files_hold_the_mixup_summaries(tmp_path, jit):
    x, y = _images()
    model = MixupModel(dense_classifier(IMAGE_SHAPE), alpha=0.5, seed=0)
    history = _fit(model, str(tmp_path), x, y, jit=jit, update_freq=1, clean_accuracy=True)
    assert model.jit_compile == jit
    train = _events(str(tmp_path / "train"))
    tags = set(train.Tags()["tensors"])
    expected = {
        "epoch_loss", "epoch_accuracy",  # Keras's own, in the same run
        "epoch_mixup_lambda", "epoch_mixup_strength", "epoch_clean_accuracy",
        "batch_mixup_lambda", "batch_mixup_strength",  # update_freq
        LAMBDA_HISTOGRAM_TAG, IMAGES_TAG,
    }
    assert expected <= tags
    lam = [float(v) for v in _values(train, "epoch_mixup_lambda")]
    strength = [float(v) for v in _values(train, "epoch_mixup_strength")]
    assert len(lam) == 2 and all(0 <= v <= 1 for v in lam)
    assert all(0 <= v <= 0.5 for v in strength)
    np.testing.assert_allclose(lam, history.history["mixup_lambda"], rtol=1e-6)
    assert len(_values(train, "batch_mixup_lambda")) == 2 * 3
    # The histogram counts every lambda drawn in the epoch, once.
    for buckets in _values(train, LAMBDA_HISTOGRAM_TAG):
        assert buckets.shape == (30, 3) and buckets[:, 2].sum() == len(x)
        assert buckets[0, 0] == 0.0 and buckets[-1, 1] == 1.0
    # One grid image of 8 inputs (2 rows of 4) per epoch.
    grids = _values(train, IMAGES_TAG)
    assert len(grids) == 2
    width, height = int(grids[0][0]), int(grids[0][1])
    assert image_grid(np.zeros((8,) + IMAGE_SHAPE)).shape[:2] == (height, width)
    png = decode_png(grids[0][2])
    assert png.shape == (height, width, 1)
    # Validation is clean: no mixup summaries in its run.
    validation = _events(str(tmp_path / "validation"))
    assert not any("mixup" in t for t in validation.Tags()["tensors"])
    assert "val_mixup_lambda" not in history.history


def test_images_are_the_mixed_inputs_the_model_saw(tmp_path):
    x, y = _images(n=8)
    model = MixupModel(dense_classifier(IMAGE_SHAPE), alpha=1.0, seed=3)
    model.compile("sgd", "sparse_categorical_crossentropy")
    # The first step's draw, sampled as the step will sample it.
    state = model.mixup_seed_generator.state.numpy()
    params = as_in_step(model.sample_mix_params, False)(8)
    model.mixup_seed_generator.state.assign(state)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, shuffle=False,
              callbacks=[MixupTensorBoard(str(tmp_path), class_names=NAMES)])
    lam, perm = numpy(params.lam), numpy(params.perm)
    mixed = lam[:, None, None, None] * x + (1 - lam[:, None, None, None]) * x[perm]
    expected_png = np.round(np.clip(image_grid(mixed), 0, 1) * 255)
    events = _events(str(tmp_path / "train"))
    png = decode_png(_values(events, IMAGES_TAG)[0][2])
    np.testing.assert_allclose(png, expected_png, atol=1)
    captions = [caption(int(a), int(b), float(w), NAMES) for a, b, w in zip(y, y[perm], lam)]
    description = events.SummaryMetadata(IMAGES_TAG).summary_description
    for i, text in enumerate(captions):
        assert f"{i + 1}. {text}" in description
    with open(tmp_path / "mixed_batch.txt") as f:
        assert f.read().splitlines() == captions
    saved = decode_png((tmp_path / "mixed_batch.png").read_bytes())
    assert saved.ndim == 3 and saved.shape[0] > png.shape[0]  # upscaled copy


def test_caption_text():
    assert caption(4, 6, 0.714, ["a", "b", "c", "d", "Coat", "e", "Shirt"]) == "0.71 Coat + 0.29 Shirt"
    assert caption(1, 2, 0.25) == "0.25 1 + 0.75 2"
    assert caption(1, 2, 0.999, NAMES) == "Shirt"
    assert caption(1, 2, 0.001, NAMES) == "Bag"
    assert caption(-1, -1, 0.5) == "0.50 ? + 0.50 ?"


def test_non_image_inputs_skip_images_quietly(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(16, 6)).astype("float32"), rng.integers(0, 3, 16)
    _fit(MixupModel(dense_classifier(), alpha=0.3), str(tmp_path), x, y)
    tags = set(_events(str(tmp_path / "train")).Tags()["tensors"])
    assert "epoch_mixup_lambda" in tags and LAMBDA_HISTOGRAM_TAG in tags
    assert IMAGES_TAG not in tags
    assert not os.path.exists(tmp_path / "mixed_batch.png")


def test_off_means_nothing_in_the_step(tmp_path):
    x, y = _images()
    model = MixupModel(dense_classifier(IMAGE_SHAPE), alpha=0.3)
    _fit(model, str(tmp_path), x, y, epochs=1)
    assert model.mixup_statistics is None  # switched off at train end
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "accuracy"}


def test_a_model_that_does_not_mix_is_refused(tmp_path):
    # It would train as a plain TensorBoard, without the tags asked for.
    x, y = _images()
    plain = dense_classifier(IMAGE_SHAPE)
    plain.compile("sgd", "sparse_categorical_crossentropy")
    weights = plain.get_weights()
    with pytest.raises(ValueError, match="needs a MixupModel.*Sequential"):
        plain.fit(x, y, epochs=1, verbose=0,
                  callbacks=[MixupTensorBoard(str(tmp_path))])
    for before, after in zip(weights, plain.get_weights()):
        np.testing.assert_array_equal(before, after)  # refused before training


def test_bad_callback_arguments():
    for kwargs in ({"image_freq": 0}, {"num_images": -1}, {"histogram_bins": 0}):
        with pytest.raises(ValueError, match=f"`{next(iter(kwargs))}`"):
            MixupTensorBoard("logs", **kwargs)


MIRRORED = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from mixup_model import MixupModel, MixupTensorBoard
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    rng = np.random.default_rng(0)
    x = rng.random((32, 6, 6, 1), dtype=np.float32)
    y = rng.integers(0, 3, 32)
    with strategy.scope():
        inner = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                                  keras.layers.Dense(3, activation="softmax")])
        model = MixupModel(inner, alpha=0.5, seed=0)
        model.compile("sgd", "sparse_categorical_crossentropy")
    history = model.fit(x, y, batch_size=16, epochs=2, verbose=0,
                        callbacks=[MixupTensorBoard(sys.argv[1])])
    step = tf.function(lambda: strategy.run(lambda: model.sample_mix_params(8).lam))
    a, b = strategy.experimental_local_results(step())
    print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                      "history": history.history,
                      "replicas_differ": bool(not np.allclose(a, b))}))
    """
)


@tensorflow_only
def test_under_mirrored_strategy(tmp_path):
    # Logical devices must be set before TensorFlow starts: a fresh process.
    # (XLA with MirroredStrategy over logical CPU devices fails in plain
    # Keras too, so this runs without XLA.)
    report = run_python(MIRRORED, str(tmp_path))
    assert report["replicas"] == 2 and report["replicas_differ"]
    assert all(0 <= v <= 1 for v in report["history"]["mixup_lambda"])
    tags = set(_events(str(tmp_path / "train")).Tags()["tensors"])
    assert {"epoch_mixup_lambda", LAMBDA_HISTOGRAM_TAG, IMAGES_TAG} <= tags


def _get_json(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


@once_in("jax")  # the files are the same on every backend; the server is TensorFlow's
def test_tensorboard_server_serves_the_runs_and_tags(tmp_path):
    x, y = _images()
    _fit(MixupModel(dense_classifier(IMAGE_SHAPE), alpha=0.4), str(tmp_path / "mixup"), x, y)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path),
         "--host", "127.0.0.1", "--port", str(port), "--load_fast", "false",
         "--reload_interval", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        # The server's plugins import Keras: on TensorFlow, whatever backend
        # this suite tests (torch and TensorFlow in one process can crash).
        env=child_env(KERAS_BACKEND="tensorflow"),
    )
    base = f"http://127.0.0.1:{port}/data"
    try:
        deadline = time.monotonic() + 90
        scalars = images = histograms = runs = None
        while time.monotonic() < deadline:
            try:
                runs = _get_json(f"{base}/runs")
                scalars = _get_json(f"{base}/plugin/scalars/tags")
                images = _get_json(f"{base}/plugin/images/tags")
                histograms = _get_json(f"{base}/plugin/histograms/tags")
                if "epoch_mixup_lambda" in scalars.get("mixup/train", {}) and images.get("mixup/train"):
                    break
            except OSError:
                pass  # not up yet
            time.sleep(0.5)
        assert runs is not None, "tensorboard did not answer"
        assert {"mixup/train", "mixup/validation"} <= set(runs)
        assert {"epoch_loss", "epoch_mixup_lambda", "epoch_mixup_strength"} <= set(scalars["mixup/train"])
        assert IMAGES_TAG in images["mixup/train"]
        assert LAMBDA_HISTOGRAM_TAG in histograms["mixup/train"]
        points = _get_json(
            f"{base}/plugin/scalars/scalars?run=mixup/train&tag=epoch_mixup_lambda"
        )
        assert len(points) == 2 and all(0 <= p[2] <= 1 for p in points)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class TraceCounting(MixupModel):
    traces = 0

    def train_step(self, *args):  # (data), or on JAX (state, data)
        type(self).traces += 1  # Python runs only while tracing
        return super().train_step(*args)


def test_refitting_with_the_same_callback_does_not_trace_again(tmp_path):
    x, y = _images()
    model = TraceCounting(dense_classifier(IMAGE_SHAPE), alpha=0.3)
    model.compile("sgd", "sparse_categorical_crossentropy")
    callback = MixupTensorBoard(str(tmp_path))
    fit = dict(batch_size=8, epochs=1, verbose=0, steps_per_epoch=2)
    for _ in range(2):
        model.fit(x, y, callbacks=[callback], **fit)  # with statistics
        model.fit(x, y, **fit)  # plain
    # (PyTorch's eager step runs Python at every step: nothing to count.)
    traced = BACKEND != "torch"
    assert TraceCounting.traces == 2 or not traced
    model.compile(keras.optimizers.SGD(0.5), "sparse_categorical_crossentropy")  # stale now
    model.fit(x, y, callbacks=[callback], **fit)
    # (`jax.jit` keeps a cache of its own, and may reuse its trace for the
    # new compile's step of the same structure: a new trace is not owed.)
    assert TraceCounting.traces == 3 or BACKEND != "tensorflow"
    assert model.mixup_statistics is None
