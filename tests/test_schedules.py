"""Schedules: rates that change at the next step without retracing."""

import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import MixupOff
from mixup_model import MixupScheduler
from mixup_model import MixupTensorBoard
from mixup_model import linear_ramp
from tests.backends import BACKEND
from tests.backends import JIT
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier


class CountingMixupModel(MixupModel):
    """Counts how often the train step is traced (Python runs only then)."""

    traces = 0

    def train_step(self, *args):  # (data), or on JAX (state, data)
        CountingMixupModel.traces += 1
        return super().train_step(*args)


@JIT
def test_schedules_change_the_step_without_retracing(jit, tmp_path):
    x, y = classification_data(n=64)
    CountingMixupModel.traces = 0
    model = compile_sgd(CountingMixupModel(dense_classifier(), alpha=1.0, seed=0), jit=jit)
    history = model.fit(
        x, y, batch_size=16, epochs=4, verbose=0,
        callbacks=[
            MixupScheduler(linear_ramp(0.0, 1.0, epochs=2), "alpha"),
            MixupOff(last_epochs=1),
            MixupTensorBoard(str(tmp_path), num_images=0),
        ],
    )
    # Python runs once per trace: TensorFlow's graph, JAX's jit. (JAX's eager
    # mode and PyTorch run it at every step; there is nothing to retrace.)
    if BACKEND == "tensorflow" or (BACKEND == "jax" and jit):
        assert CountingMixupModel.traces == 1
    assert history.history["mixup_alpha"] == [0.0, 0.5, 1.0, 1.0]
    strength = history.history["mixup_strength"]
    assert strength[0] == 0.0 and strength[3] == 0.0  # alpha 0, then off
    assert strength[1] > 0.05 and strength[2] > 0.05
    assert model.prob == 1.0  # MixupOff restores it for the next fit


def test_mixup_off_from_epoch_and_clean_training():
    x, y = classification_data(n=32)
    off = compile_sgd(MixupModel(dense_classifier(), alpha=1.0, seed=0))
    plain = compile_sgd(dense_classifier())
    fit = dict(batch_size=8, epochs=2, shuffle=False, verbose=0)
    off.fit(x, y, callbacks=[MixupOff(from_epoch=0)], **fit)
    plain.fit(x, y, **fit)
    for a, b in zip(off.model.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_schedule_errors_are_clear():
    model = MixupModel(dense_classifier(), alpha=0.2)
    with pytest.raises(ValueError, match="built with cutmix_alpha=0"):
        model.cutmix_alpha = 0.5
    with pytest.raises(ValueError, match="`prob` must be a probability"):
        model.prob = 1.5
    with pytest.raises(ValueError, match="`setting` must be one of"):
        MixupScheduler(lambda e, v: v, setting="beta")
    with pytest.raises(ValueError, match="exactly one"):
        MixupOff()
    plain = compile_sgd(dense_classifier())
    x, y = classification_data(n=8)
    with pytest.raises(ValueError, match="needs a MixupModel"):
        plain.fit(x, y, verbose=0, callbacks=[MixupScheduler(lambda e, v: v)])
