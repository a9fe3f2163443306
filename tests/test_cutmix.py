"""CutMix and timm's prob/switch_prob, inside the compiled train step."""

import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import paste_boxes
from mixup_model import sample_batch_params
from tests.backends import JIT
from tests.backends import as_in_step
from tests.backends import numpy
from tests.backends import seed
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.helpers import draw_as_in_step
from tests.helpers import two_term_cross_entropy


@JIT
def test_cutmix_label_weight_is_the_exact_pasted_area(jit):
    # Non-square images catch a box width computed from the height (TF Model
    # Garden); constant, distinct images let us count pasted pixels.
    height, width, n = 8, 20, 64
    x = np.broadcast_to(
        np.arange(1, n + 1, dtype="float32")[:, None, None, None], (n, height, width, 1)
    )
    draw = as_in_step(
        lambda seed: sample_batch_params(
            n, seed, alpha=0.0, cutmix_alpha=1.0, image_size=(height, width),
            mixup=False, cutmix=True,
        ),
        jit,
    )
    clipped = interior = 0
    for step in range(4):
        params = draw(seed(step, 9))
        mixed = numpy(paste_boxes(x, params))
        lam, perm, box = numpy(params.lam), numpy(params.perm), numpy(params.box)
        for i in range(n):
            pasted = mixed[i, ..., 0] != x[i, ..., 0]
            if perm[i] == i:
                assert not pasted.any()
                continue
            np.testing.assert_array_equal(mixed[i][pasted], x[perm[i]][pasted])
            # Exactly the box, and the weight is exactly its area.
            top, bottom, left, right = box[i]
            expected = np.zeros((height, width), bool)
            expected[top:bottom, left:right] = True
            np.testing.assert_array_equal(pasted, expected)
            assert lam[i] == pytest.approx(1 - pasted.sum() / (height * width), abs=1e-6)
            on_border = top == 0 or left == 0 or bottom == height or right == width
            if on_border:
                clipped += 1
            elif bottom - top >= 2 and right - left >= 2:
                interior += 1
                # Each side scales with its own image side.
                assert abs((bottom - top) / height - (right - left) / width) <= (
                    1 / height + 1 / width
                ) + 1e-6
    assert clipped > 10 and interior > 10


@JIT
def test_cutmix_step_trains_on_pasted_images_with_area_weights(jit):
    x, y = classification_data(n=16, input_shape=(6, 10, 1))
    model = compile_sgd(
        MixupModel(dense_classifier((6, 10, 1)), alpha=0.0, cutmix_alpha=1.0, seed=2),
        jit=jit,
    )
    params = draw_as_in_step(model, 16, (6, 10), jit)
    assert bool(params.cutmix)
    assert np.any(numpy(params.lam) < 1)
    mixed = numpy(paste_boxes(x, params))
    probs = numpy(model(mixed, training=True))
    expected = two_term_cross_entropy(probs, y, numpy(params.lam), numpy(params.perm))
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


@JIT
def test_prob_and_switch_prob_follow_timms_semantics(jit):
    model = MixupModel(
        dense_classifier((4, 4, 1)), alpha=1.0, cutmix_alpha=1.0, prob=0.6,
        switch_prob=0.25, seed=0,
    )
    draw = as_in_step(lambda: model.sample_mix_params(32, (4, 4)), jit)
    outcomes = []
    for _ in range(400):
        p = draw()
        lam, box = numpy(p.lam), numpy(p.box)
        if np.all(lam == 1.0):
            outcomes.append("off")
            assert not np.any(box[:, 1] > box[:, 0])  # no box either
        else:
            outcomes.append("cutmix" if bool(p.cutmix) else "mixup")
    outcomes = np.array(outcomes)
    mixed = outcomes != "off"

    def close(observed, p, n):  # within 5 binomial standard deviations
        assert abs(observed - p * n) < 5 * np.sqrt(n * p * (1 - p)) + 1, (observed, p, n)

    close(mixed.sum(), 0.6, 400)
    close((outcomes == "cutmix").sum(), 0.25, mixed.sum())
    # A concentration of 0 switches its method off; prob 0 all mixing.
    model.alpha = 0.0
    kinds = set()
    for _ in range(40):
        p = draw()
        kinds.add("off" if np.all(numpy(p.lam) == 1) else bool(p.cutmix))
    assert kinds == {"off", True}
    model.prob = 0.0
    assert all(np.all(numpy(draw().lam) == 1.0) for _ in range(20))


def test_cutmix_needs_an_image_input():
    x, y = classification_data(n=8)
    model = compile_sgd(MixupModel(dense_classifier(), cutmix_alpha=1.0))
    with pytest.raises(ValueError, match="needs an image input of rank 4"):
        model.fit(x, y, verbose=0)
