"""Resuming after a crash continues the mixup randomness; runs are repeatable."""

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model.versions import release
from tests.backends import BACKEND
from tests.backends import tensorflow_only
from tests.helpers import assert_weights_equal
from tests.helpers import classification_data
from tests.helpers import dense_classifier
from tests.subprocess_utils import run_python

EPOCHS = 4
FIT = dict(batch_size=8, shuffle=False, verbose=0)  # a deterministic data order


class Crash(keras.callbacks.Callback):
    """Kills training at the start of an epoch, like a lost machine."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            raise RuntimeError("simulated crash")


def _model():
    model = MixupModel(dense_classifier(), alpha=1.0, seed=11)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model


def _crash_and_resume(tmp_path, x, y):
    backup = str(tmp_path / "backup")
    crashed = _model()
    with pytest.raises(RuntimeError, match="simulated crash"):
        crashed.fit(x, y, epochs=EPOCHS, callbacks=[keras.callbacks.BackupAndRestore(backup), Crash(2)], **FIT)
    # A new process would build a fresh model: same seed, fresh RNG state.
    resumed = _model()
    history = resumed.fit(x, y, epochs=EPOCHS, callbacks=[keras.callbacks.BackupAndRestore(backup)], **FIT)
    assert len(history.history["loss"]) == EPOCHS - 2  # it resumed at epoch 2
    return resumed


def test_backup_and_restore_resumes_weights_and_randomness(tmp_path):
    x, y = classification_data(n=32)
    uninterrupted = _model()
    uninterrupted.fit(x, y, epochs=EPOCHS, **FIT)
    resumed = _crash_and_resume(tmp_path, x, y)
    if BACKEND == "torch":
        # Eager PyTorch draws the coming steps in blocks, which start afresh
        # after the restore: the same partners, and lambdas to their last
        # bit (docs/backends.md), so the weights agree to float rounding.
        for a, b in zip(resumed.get_weights(), uninterrupted.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    else:
        assert_weights_equal(resumed, uninterrupted)
    np.testing.assert_array_equal(
        resumed.mixup_seed_generator.state.numpy(),
        uninterrupted.mixup_seed_generator.state.numpy(),
    )


def test_without_the_saved_random_state_the_resume_would_replay(tmp_path, monkeypatch):
    # The control: drop the state from the backup, and the lambdas after the
    # resume replay the seed's sequence, so the weights come out different.
    monkeypatch.setattr(MixupModel, "save_own_variables", keras.Model.save_own_variables)
    monkeypatch.setattr(MixupModel, "load_own_variables", keras.Model.load_own_variables)
    x, y = classification_data(n=32)
    uninterrupted = _model()
    uninterrupted.fit(x, y, epochs=EPOCHS, **FIT)
    resumed = _crash_and_resume(tmp_path, x, y)
    assert not np.allclose(resumed.get_weights()[0], uninterrupted.get_weights()[0])


@pytest.mark.parametrize("weights_only", [True, False], ids=["weights.h5", "keras"])
def test_model_checkpoint_carries_the_random_state(tmp_path, weights_only):
    x, y = classification_data(n=16)
    path = str(tmp_path / ("ckpt.weights.h5" if weights_only else "ckpt.keras"))
    model = _model()
    model.fit(x, y, epochs=2, callbacks=[keras.callbacks.ModelCheckpoint(path, save_weights_only=weights_only)], **FIT)
    if weights_only:
        restored = _model()
        restored.load_weights(path)
    else:
        restored = keras.models.load_model(path)
    state = model.mixup_seed_generator.state.numpy()
    assert state[1] > 0  # it advanced during training
    np.testing.assert_array_equal(restored.mixup_seed_generator.state.numpy(), state)


DETERMINISM = """
import json
import numpy as np
import tensorflow as tf
import keras
from mixup_model import MixupModel
tf.config.experimental.enable_op_determinism()

def run():
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    x = rng.random((48, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 3, 48)
    inner = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Dropout(0.2),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model = MixupModel(inner, alpha=0.4)  # seeded by set_random_seed
    model.compile("adam", "sparse_categorical_crossentropy", jit_compile=True)
    model.fit(x, y, batch_size=16, epochs=2, verbose=0)  # shuffled, seeded
    return model

a, b = run(), run()
print(json.dumps({
    "identical": all(np.array_equal(u, v) for u, v in zip(a.get_weights(), b.get_weights())),
    "jit_compile": bool(a.jit_compile),
    "keras": keras.__version__,
}))
"""


@tensorflow_only
def test_op_determinism_gives_bitwise_identical_runs():
    report = run_python(DETERMINISM)
    assert report["identical"]
    # Keras 3.7+ turns XLA off under op determinism (documented in
    # docs/distribution.md); Keras 3.6 keeps it, and is deterministic too.
    assert report["jit_compile"] is (release(report["keras"]) < (3, 7))
