"""CutMix for sequences `(batch, T, C)`: one segment along T per example,
label weight `1 - length / T` after clipping."""

import keras
import numpy as np
import pytest

from mixup_model import MixupModel
from mixup_model import mix_inputs
from mixup_model import paste_segments
from mixup_model.mixing import first_cut_input
from mixup_model import sample_batch_params
from tests.backends import JIT
from tests.backends import as_in_step
from tests.backends import numpy
from tests.backends import seed
from tests.helpers import drawn
from tests.helpers import NUM_CLASSES
from tests.helpers import assert_fits_saves_and_loads
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.helpers import draw_as_in_step
from tests.helpers import two_term_cross_entropy

STEPS, CHANNELS, N = 20, 2, 32


def _segments(jit, **kwargs):
    return as_in_step(
        lambda s: sample_batch_params(
            N, s, alpha=0.0, cutmix_alpha=1.0, sequence_length=STEPS,
            mixup=False, cutmix=True, **kwargs,
        ),
        jit,
    )


@JIT
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_segments_paste_partner_steps_with_length_weights(jit, data_format):
    # Distinct values per example, so the partner's steps show.
    x = np.broadcast_to(
        np.arange(1, N + 1, dtype="float32")[:, None, None], (N, STEPS, CHANNELS)
    )
    if data_format == "channels_first":
        x = np.moveaxis(x, -1, 1)
    clipped = interior = 0
    draw = _segments(jit)  # compiled once, for every seed
    for step in range(4):
        params = draw(seed(step, 5))
        assert drawn(params).box is None
        mixed = numpy(paste_segments(x, drawn(params).segment, params, data_format))
        if data_format == "channels_first":
            mixed, source = np.moveaxis(mixed, 1, -1), np.moveaxis(x, 1, -1)
        else:
            source = x
        lam, perm, segment = numpy(params.lam), numpy(params.perm), drawn(params).segment
        for i in range(N):
            start, end = segment[i]
            inside = np.zeros(STEPS, bool)
            inside[start:end] = True
            np.testing.assert_array_equal(mixed[i][inside], source[perm[i]][inside])
            np.testing.assert_array_equal(mixed[i][~inside], source[i][~inside])
            # The weight is the length after clipping, not sqrt of anything.
            assert lam[i] == pytest.approx(1 - (end - start) / STEPS, abs=1e-6)
            if start == 0 or end == STEPS:
                clipped += 1
            else:
                interior += 1
    assert clipped > 5 and interior > 5


def test_unclipped_segment_length_is_steps_times_one_minus_lambda():
    params = sample_batch_params(
        N, seed(1, 6), alpha=0.0, cutmix_alpha=1.0, sequence_length=STEPS,
        mixup=False, cutmix=True, correct_lam=False,
    )
    lam, segment = numpy(params.lam), drawn(params).segment
    length = segment[:, 1] - segment[:, 0]
    unclipped = (segment[:, 0] > 0) & (segment[:, 1] < STEPS)
    assert unclipped.sum() > 5
    np.testing.assert_array_equal(
        length[unclipped], np.floor(STEPS * (1 - lam[unclipped])).astype(int)
    )


@JIT
def test_segment_minmax_draws_lengths_in_range(jit):
    lengths = []
    draw = _segments(jit, cutmix_minmax=(0.2, 0.5))  # compiled once
    for step in range(10):
        params = draw(seed(step, 7))
        segment = drawn(params).segment
        lengths += (segment[:, 1] - segment[:, 0]).tolist()
        assert np.all(segment[:, 0] >= 0) and np.all(segment[:, 1] <= STEPS)
    assert set(lengths) == set(range(int(STEPS * 0.2), int(STEPS * 0.5)))


@JIT
def test_sequence_classifier_trains_on_cut_sequences(jit):
    x, y = classification_data(n=16, input_shape=(STEPS, CHANNELS))
    model = compile_sgd(
        MixupModel(dense_classifier((STEPS, CHANNELS)), alpha=0.0, cutmix_alpha=1.0, seed=2),
        jit=jit,
    )
    params = draw_as_in_step(model, 16, (STEPS,), jit)
    assert drawn(params).segment is not None and np.any(numpy(params.lam) < 1)
    probs = numpy(model(numpy(paste_segments(x, drawn(params).segment, params)), training=True))
    expected = two_term_cross_entropy(probs, y, numpy(params.lam), numpy(params.perm))
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def sequence_tagger():
    """(T, C) sequences to a class per step, (T, K)."""
    return keras.Sequential(
        [
            keras.Input((STEPS, CHANNELS)),
            keras.layers.Conv1D(NUM_CLASSES, 3, padding="same", activation="softmax",
                                kernel_initializer=keras.initializers.GlorotUniform(0)),
        ]
    )


@JIT
def test_per_step_targets_take_the_partner_inside_the_segment(jit):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(16, STEPS, CHANNELS)).astype("float32")
    tags = rng.integers(0, NUM_CLASSES, size=(16, STEPS)).astype("int32")
    model = compile_sgd(
        MixupModel(sequence_tagger(), alpha=0.0, cutmix_alpha=1.0, seed=3), jit=jit
    )
    params = draw_as_in_step(model, 16, (STEPS,), jit)
    segment, perm = drawn(params).segment, numpy(params.perm)
    inside = np.zeros((16, STEPS), bool)
    for i, (start, end) in enumerate(segment):
        inside[i, start:end] = True
    assert inside.any()
    target = np.where(inside, tags[perm], tags)  # step by step
    probs = numpy(model(numpy(paste_segments(x, drawn(params).segment, params)), training=True))
    rows, steps = np.indices(target.shape)
    expected = np.mean(-np.log(probs[rows, steps, target]))
    loss = model.train_on_batch(x, tags, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)


def test_an_image_input_takes_the_box_and_a_sequence_input_is_blended():
    image = keras.Input((4, 6, 1), name="image")
    series = keras.Input((STEPS, CHANNELS), name="series")
    features = keras.layers.Concatenate()(
        [keras.layers.Flatten()(image), keras.layers.Flatten()(series)]
    )
    outputs = keras.layers.Dense(NUM_CLASSES, activation="softmax")(features)
    model = MixupModel(inputs=[image, series], outputs=outputs, alpha=0.0,
                       cutmix_alpha=1.0, seed=0)
    rng = np.random.default_rng(4)
    x = [rng.normal(size=(8, 4, 6, 1)).astype("float32"),
         rng.normal(size=(8, STEPS, CHANNELS)).astype("float32")]
    assert first_cut_input(x) is x[0]
    params = model.sample_mix_params(8, (4, 6))
    assert drawn(params).segment is None and drawn(params).box is not None
    lam, perm = numpy(params.lam), numpy(params.perm)
    _, series_mixed = mix_inputs(x, params)
    np.testing.assert_allclose(
        numpy(series_mixed),
        lam[:, None, None] * x[1] + (1 - lam[:, None, None]) * x[1][perm],
        rtol=1e-5, atol=1e-6,
    )


def test_sequence_tagger_fits_saves_and_loads(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(16, STEPS, CHANNELS)).astype("float32")
    tags = rng.integers(0, NUM_CLASSES, size=(16, STEPS)).astype("int32")
    model = compile_sgd(
        MixupModel(sequence_tagger(), alpha=0.4, cutmix_alpha=1.0, mode="pair",
                   cutmix_minmax=(0.1, 0.4), seed=1),
        metrics=["accuracy"],
    )
    assert_fits_saves_and_loads(model, x, tags, str(tmp_path / "tagger.keras"))
