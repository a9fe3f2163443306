"""Every setting saved and loaded; bad settings named in the error."""

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import sample_batch_params
from mixup_model.model import RATES_KEY
from tests.backends import numpy
from tests.backends import seed
from tests.helpers import dense_classifier
from tests.helpers import two_headed_model

SEED = seed(3, 4)


def test_every_setting_and_the_scheduled_rates_survive_saving(tmp_path):
    model = two_headed_model(
        alpha=0.3, cutmix_alpha=1.0, prob=0.8, switch_prob=0.3,
        lambda_mode="per_batch", label_smoothing=0.05,
        mixed_inputs=["image", "meta"], seed=7,
    )
    model.prob = 0.4  # as a schedule left it
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.mixup_config() == model.mixup_config()
    assert loaded.mixup_config()["mixed_inputs"] == ["image", "meta"]
    assert loaded.current_rates() == pytest.approx(
        {"alpha": 0.3, "cutmix_alpha": 1.0, "prob": 0.4, "switch_prob": 0.3,
         "resizemix_alpha": 0.0, "fmix_alpha": 0.0}
    )
    store = {}
    model.save_own_variables(store)
    assert RATES_KEY in store


def test_scheduled_rates_of_a_method_the_model_lacks_are_not_loaded(tmp_path):
    mixup = MixupModel(dense_classifier(), alpha=0.4)
    path = str(tmp_path / "m.weights.h5")
    mixup.save_weights(path)
    baseline = MixupModel(dense_classifier(), alpha=0.0)
    with pytest.warns(UserWarning, match="built with alpha=0; it keeps alpha=0"):
        baseline.load_weights(path)
    assert baseline.alpha == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"cutmix_alpha": -1.0}, "`cutmix_alpha` must be a finite number"),
        ({"prob": 1.5}, "`prob` must be a probability"),
        ({"switch_prob": "half"}, "`switch_prob` must be a probability"),
        ({"mixed_inputs": "image"}, "`mixed_inputs` must be None"),
        ({"mixed_inputs": [True]}, "`mixed_inputs` must be None"),
        ({"mix_layer": "x", "mixed_inputs": ["a"]}, "`mixed_inputs` must be None with"),
    ],
)
def test_bad_settings_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MixupModel(dense_classifier(), **kwargs)


def test_prob_gate_keeps_the_default_mixup_stream():
    # prob and the CutMix machinery draw from their own seeds: a mixup-only
    # model draws exactly the lambdas and partners it drew before them.
    from mixup_model import sample_mix_params

    gated = sample_batch_params(32, SEED, alpha=0.2)
    plain = sample_mix_params(32, 0.2, SEED)
    np.testing.assert_array_equal(numpy(gated.lam), numpy(plain.lam))
    np.testing.assert_array_equal(numpy(gated.perm), numpy(plain.perm))
