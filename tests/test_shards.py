"""Several devices under `keras.distribution` (JAX): each device mixes its
own shard of the batch, and the mixed step moves nothing between devices
that the plain step does not."""

import json
import textwrap

import numpy as np
import pytest

from mixup_model.shards import batch_shards
from mixup_model.shards import take_partners
from tests.backends import BACKEND
from tests.backends import numpy
from tests import recorded_draws
from tests.subprocess_utils import child_env
from tests.subprocess_utils import run_python

jax_only = pytest.mark.skipif(BACKEND != "jax", reason="keras.distribution on JAX")

# The variants whose compiled steps are compared with the plain model's.
VARIANTS = {
    "mixup": dict(alpha=0.4),
    "cutmix": dict(alpha=0.4, cutmix_alpha=1.0),
    "elem": dict(alpha=0.4, cutmix_alpha=1.0, mode="elem"),
    "pair": dict(alpha=0.4, cutmix_alpha=1.0, mode="pair"),
}

COLLECTIVES = textwrap.dedent(
    """
    import json, sys
    import jax, keras
    import numpy as np
    from mixup_model import MixupModel
    from benchmarks.scaling import collectives_of, compiled_train_step

    variants = json.loads(sys.argv[1])
    devices = jax.devices()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    batch = 4 * len(devices)
    rng = np.random.default_rng(0)
    x = rng.random((batch, 8, 8, 3), dtype=np.float32)
    # One-hot targets: one loss term, so the bytes must match too (integer
    # labels add the sum of a second term, one float32, to the gradients').
    y = np.eye(3, dtype="float32")[rng.integers(0, 3, batch)]

    def net():
        return keras.Sequential([
            keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax")])

    def collectives(model):
        model.compile("sgd", "categorical_crossentropy")
        return collectives_of(compiled_train_step(model, x, y).as_text())

    found = {"plain": collectives(net())}
    for name, settings in variants.items():
        found[name] = collectives(MixupModel(net(), seed=0, **settings))
    print(json.dumps({"devices": len(devices), "collectives": found}))
    """
)


@jax_only
# 2 and 8 devices (4 was measured too: docs/scaling_cpu.json).
@pytest.mark.parametrize("devices", [2, 8])
def test_mixed_steps_have_exactly_the_plain_steps_collectives(devices):
    report = run_python(
        COLLECTIVES, json.dumps(VARIANTS),
        env=child_env(XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}"),
    )
    assert report["devices"] == devices
    found = report["collectives"]
    plain = found["plain"]
    assert plain["all-reduce"]["count"] >= 1 and plain["all-reduce"]["bytes"] > 0  # the gradients
    for name in VARIANTS:
        assert found[name] == plain, name  # the same collectives, the same bytes


DRAWS = textwrap.dedent(
    """
    import json
    import jax, keras
    import numpy as np
    from mixup_model import MixupModel
    from mixup_model.shards import batch_shards

    devices = jax.devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    rng = np.random.default_rng(0)
    x = rng.random((64, 6, 6, 1), dtype=np.float32)
    y = rng.integers(0, 3, 64)

    def net():
        return keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax",
                               kernel_initializer=keras.initializers.GlorotUniform(0))])

    def draws(model, batch=32):
        params = model.sample_mix_params(batch, image_size=(6, 6))
        return {"lam": np.asarray(params.lam).tolist(), "perm": np.asarray(params.perm).tolist()}

    report = {"devices": len(devices)}
    for mode in ("batch", "elem", "pair"):
        model = MixupModel(net(), alpha=1.0, cutmix_alpha=1.0, mode=mode, seed=3)
        report[mode] = draws(model)

    def trained(seed):
        model = MixupModel(net(), alpha=0.4, cutmix_alpha=1.0, seed=seed)
        model.compile("sgd", "sparse_categorical_crossentropy")
        history = model.fit(x, y, batch_size=16, epochs=2, verbose=0, shuffle=False)
        return history.history["loss"], [w.tolist() for w in model.get_weights()]

    report["seeded"] = [trained(7), trained(7), trained(8)]
    model = MixupModel(net(), alpha=0.4, seed=0)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    inner = model.model
    inner.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    report["evaluate"] = [model.evaluate(x, y, verbose=0), inner.evaluate(x, y, verbose=0)]
    try:
        batch_shards(6)
    except ValueError as error:
        report["uneven"] = str(error)
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def four_devices():
    return run_python(
        DRAWS, env=child_env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
    )


@jax_only
@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
def test_no_partner_crosses_a_shard(four_devices, mode):
    draws = four_devices[mode]
    perm, shard = np.array(draws["perm"]), np.arange(32) // 8
    assert sorted(perm.tolist()) == list(range(32))  # still a permutation
    assert (perm // 8 == shard).all()  # each partner in its example's shard
    if mode == "pair":
        assert (perm[perm] == np.arange(32)).all()  # pairs within a shard
        np.testing.assert_array_equal(np.array(draws["lam"])[perm], draws["lam"])


@jax_only
def test_the_devices_draw_differently(four_devices):
    draws = four_devices["batch"]
    lam = np.array(draws["lam"]).reshape(4, 8)
    local = (np.array(draws["perm"]) % 8).reshape(4, 8)
    assert len({tuple(row) for row in lam.round(7)}) == 4
    assert len({tuple(row) for row in local}) == 4  # not one shuffle repeated
    assert len(set(lam.round(7).ravel())) == 32


@jax_only
def test_a_seeded_run_reproduces_and_evaluation_is_clean(four_devices):
    first, again, other = four_devices["seeded"]
    assert first == again
    assert first[0] != other[0]
    mixed, clean = four_devices["evaluate"]
    np.testing.assert_allclose(mixed, clean, rtol=1e-6)


@jax_only
def test_an_uneven_batch_is_refused_naming_both_numbers(four_devices):
    message = four_devices["uneven"]
    assert "A batch of 6 examples cannot be split evenly over the 4 devices" in message


def test_single_device_draws_are_the_recorded_ones():
    # Recorded with 0.1.0, before partners were per shard: every draw on one
    # device (every λ stream of the recorded experiments) is bit for bit
    # the same (tests/recorded_draws.py says how to record anew).
    with open(recorded_draws.PATH) as f:
        recorded = json.load(f)[BACKEND]
    assert recorded == recorded_draws.draws()


def test_one_shard_without_a_distribution():
    # Without a distribution the gathers are the plain ones (and the draws
    # bit for bit the single-device ones).
    assert batch_shards(12) == 1
    x = np.arange(24.0).reshape(6, 4)
    index = np.array([5, 4, 3, 2, 1, 0], "int32")
    np.testing.assert_array_equal(numpy(take_partners(x, index)), x[index])


def test_take_partners_gathers_within_shards():
    x = np.arange(48.0).reshape(8, 3, 2)
    index = np.array([1, 0, 3, 2, 6, 4, 7, 5], "int32")  # within halves
    np.testing.assert_array_equal(numpy(take_partners(x, index, shards=2)), x[index])
