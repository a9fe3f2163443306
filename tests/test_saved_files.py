"""`.keras` files saved by earlier releases (tests/saved/, made by
tests/saved_models.py) load on every backend with their settings, rates and
random state: the λ stream continues where it stopped, and they train."""

import json

import pytest

from tests import saved_models
from tests.backends import BACKEND

FILES = {**saved_models.SIX_RATES, **saved_models.FOUR_RATES}


def test_every_saved_file_is_tested():
    assert sorted(FILES) == saved_models.saved_files()


@pytest.mark.parametrize("name", sorted(FILES))
def test_a_saved_file_loads_its_rates_and_continues_its_stream(name):
    form, settings, (rate, value) = FILES[name]
    with open(saved_models.CONTINUATIONS) as f:
        expected = json.load(f)[BACKEND][name]
    model = saved_models.load(name)
    assert isinstance(model, saved_models.MixupModel)
    assert getattr(model, rate) == value  # moved before saving
    assert model.seed == settings["seed"]
    assert saved_models.next_draws(model) == expected
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = saved_models.data()
    model.fit(x, y, batch_size=saved_models.BATCH, epochs=1, verbose=0)
