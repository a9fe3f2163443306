"""timm's `mode`: what one draw of `prob`, `switch_prob` and the method
decides for ("batch", "pair", "elem")."""

import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import mix_inputs
from mixup_model import sample_batch_params
from tests.backends import JIT
from tests.backends import JIT_COMPILE
from tests.backends import JIT_IDS
from tests.backends import as_in_step
from tests.backends import numpy
from tests.backends import seed
from tests.helpers import drawn
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.helpers import draw_as_in_step
from tests.helpers import two_term_cross_entropy

SIZE = (6, 8)


def timm_mix(x, lam, perm, cutmix, box):
    """numpy statement of timm's per-example mixing (`_mix_elem`): an
    unmixed example (lam = 1) is kept, a CutMix example gets its partner's
    box, the others are blended with their own lambda."""
    out = x.copy()
    for i in range(len(x)):
        if lam[i] == 1.0:
            continue
        if cutmix[i]:
            top, bottom, left, right = box[i]
            out[i, top:bottom, left:right] = x[perm[i], top:bottom, left:right]
        else:
            out[i] = lam[i] * x[i] + (1 - lam[i]) * x[perm[i]]
    return out


def _draw(mode, jit, **rates):
    return as_in_step(
        lambda s: sample_batch_params(
            32, s, alpha=1.0, cutmix_alpha=1.0, image_size=SIZE, cutmix=True,
            mode=mode, **rates,
        ),
        jit,
    )


def _close(observed, p, n):  # within 5 binomial standard deviations
    assert abs(observed - p * n) < 5 * np.sqrt(n * p * (1 - p)) + 1, (observed, p, n)


@JIT
def test_elem_mode_gates_and_switches_each_example(jit):
    draw = _draw("elem", jit, prob=0.6, switch_prob=0.25)
    x = np.random.default_rng(0).normal(size=(32,) + SIZE + (1,)).astype("float32")
    mixed_count = cut_count = total = 0
    for step in range(40):
        params = draw(seed(step, 1))
        lam, perm, box = numpy(params.lam), numpy(params.perm), drawn(params).box
        cutmix = drawn(params).cutmix
        assert cutmix.shape == (32,)
        mixed = lam < 1.0
        # Unmixed and mixup examples have no box.
        assert not np.any((box[:, 1] > box[:, 0]) & ~(mixed & cutmix))
        total += 32
        mixed_count += mixed.sum()
        cut_count += (mixed & cutmix).sum()
        np.testing.assert_allclose(
            numpy(mix_inputs(x, params)), timm_mix(x, lam, perm, cutmix, box),
            rtol=1e-6, atol=1e-6,
        )
    _close(mixed_count, 0.6, total)
    _close(cut_count, 0.25, mixed_count)


@JIT
def test_pair_mode_mixes_partners_complementarily(jit):
    draw = _draw("pair", jit)
    x = np.random.default_rng(1).normal(size=(32,) + SIZE + (1,)).astype("float32")
    methods = set()
    for step in range(10):
        params = draw(seed(step, 2))
        lam, perm, box = numpy(params.lam), numpy(params.perm), drawn(params).box
        cutmix = drawn(params).cutmix
        np.testing.assert_array_equal(perm[perm], np.arange(32))  # pairs
        assert np.all(perm != np.arange(32))  # an even batch: no one alone
        # A pair shares its lambda, method and box.
        np.testing.assert_array_equal(lam[perm], lam)
        np.testing.assert_array_equal(cutmix[perm], cutmix)
        np.testing.assert_array_equal(box[perm], box)
        mixed = numpy(mix_inputs(x, params))
        np.testing.assert_allclose(mixed, timm_mix(x, lam, perm, cutmix, box), atol=1e-6)
        # Complementary: the pair's two mixes hold the pair's pixels once each.
        np.testing.assert_allclose(mixed + mixed[perm], x + x[perm], atol=1e-5)
        methods |= set(cutmix.tolist())
    assert methods == {True, False}


def test_pair_mode_with_an_odd_batch_leaves_one_example_alone():
    params = sample_batch_params(7, seed(3, 3), alpha=1.0, mode="pair")
    perm = numpy(params.perm)
    np.testing.assert_array_equal(perm[perm], np.arange(7))
    assert (perm == np.arange(7)).sum() == 1


@pytest.mark.parametrize(
    "mode, jit",
    # Each mode under the backend's default compile setting, "pair" (the
    # one that pairs partners) under the other too.
    [("pair", JIT_COMPILE[0]), ("elem", JIT_COMPILE[0]), ("pair", JIT_COMPILE[1])],
    ids=[f"pair-{JIT_IDS[0]}", f"elem-{JIT_IDS[0]}", f"pair-{JIT_IDS[1]}"],
)
def test_per_example_modes_train_through_fit(mode, jit):
    input_shape = SIZE + (1,)
    x, y = classification_data(n=16, input_shape=input_shape)
    model = compile_sgd(
        MixupModel(dense_classifier(input_shape), alpha=1.0, cutmix_alpha=1.0,
                   mode=mode, seed=4),
        jit=jit,
    )
    params = draw_as_in_step(model, 16, SIZE, jit)
    probs = numpy(model(numpy(mix_inputs(x, params)), training=True))
    expected = two_term_cross_entropy(probs, y, numpy(params.lam), numpy(params.perm))
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_mode_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match=r"`mode` must be one of .*Received: mode='pairs'"):
        MixupModel(dense_classifier(), mode="pairs")
    with pytest.raises(ValueError, match="lambda_mode"):
        MixupModel(dense_classifier(), mode="elem", lambda_mode="per_batch")
    model = MixupModel(dense_classifier(), mode="pair")
    assert MixupModel.from_config(model.get_config()).mode == "pair"
