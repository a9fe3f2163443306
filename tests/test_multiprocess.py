"""Two JAX processes on this machine form one runtime (as two hosts would),
train one `MixupModel` under `keras.distribution.DataParallel` over their
four devices, each feeding its part of the batch, and process 0 saves a
model that a fresh process loads and trains on."""

import textwrap

import numpy as np
import pytest

from tests.backends import BACKEND
from tests.subprocess_utils import child_env
from tests.subprocess_utils import free_port
from tests.subprocess_utils import run_python
from tests.subprocess_utils import run_together

pytestmark = pytest.mark.skipif(BACKEND != "jax", reason="multi-process JAX")

HOST = textwrap.dedent(
    """
    import json, os
    import keras
    keras.distribution.initialize(
        job_addresses=os.environ["COORDINATOR"], num_processes=2,
        process_id=int(os.environ["PROCESS"]))  # one seed for all processes
    import jax
    import numpy as np
    from jax.experimental import multihost_utils
    from mixup_model import MixupModel

    process = jax.process_index()
    distribution = keras.distribution.DataParallel(
        devices=jax.devices(), auto_shard_dataset=False)  # each feeds its part
    keras.distribution.set_distribution(distribution)
    rng = np.random.default_rng(0)
    x = rng.random((64, 6, 6, 1), dtype=np.float32)
    y = rng.integers(0, 3, 64)
    x_local, y_local = x[process::2], y[process::2]  # this process's part
    inner = keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(3, activation="softmax")])
    model = MixupModel(inner, alpha=0.5, cutmix_alpha=1.0, seed=11)
    model.compile("sgd", "sparse_categorical_crossentropy")
    # 8 examples per process and step: a global batch of 16 over 4 devices.
    history = model.fit(x_local, y_local, batch_size=8, epochs=2, verbose=0,
                        shuffle=False)
    evaluation = model.evaluate(x_local, y_local, batch_size=8, verbose=0)
    inner.compile("sgd", "sparse_categorical_crossentropy")
    clean = inner.evaluate(x_local, y_local, batch_size=8, verbose=0)
    params = model.sample_mix_params(16, image_size=(6, 6))  # the next draw
    half = slice(8 * process, 8 * process + 8)  # this process's examples
    if process == 0:
        # Keras builds a throwaway optimizer while saving, whose variable
        # the distribution would lay out with a collective that process 1
        # never joins: save without the distribution.
        keras.distribution.set_distribution(None)
        model.save(os.environ["SAVE_PATH"])
        keras.distribution.set_distribution(distribution)
    multihost_utils.sync_global_devices("saved")
    print(json.dumps({
        "process": process, "devices": jax.device_count(),
        "local_devices": jax.local_device_count(),
        "loss": history.history["loss"], "evaluate": evaluation, "clean": clean,
        "lam": np.asarray(params.lam)[half].tolist(),
        "perm": np.asarray(params.perm).tolist(),
        "seed_state": np.asarray(model.mixup_seed_generator.state).tolist(),
    }))
    """
)

FRESH = textwrap.dedent(
    """
    import json, sys
    import keras
    import numpy as np
    import mixup_model  # registers its classes for loading
    model = keras.models.load_model(sys.argv[1])
    saved_state = np.asarray(model.mixup_seed_generator.state).tolist()
    rng = np.random.default_rng(1)
    x = rng.random((32, 6, 6, 1), dtype=np.float32)
    y = rng.integers(0, 3, 32)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    print(json.dumps({
        "config": model.mixup_config(), "rates": model.current_rates(),
        "saved_state": saved_state,
        "state": np.asarray(model.mixup_seed_generator.state).tolist(),
        "loss": history.history["loss"],
    }))
    """
)


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("multi") / "model.keras")
    coordinator = f"127.0.0.1:{free_port()}"
    envs = [
        child_env(
            KERAS_BACKEND="jax", COORDINATOR=coordinator, PROCESS=str(process),
            XLA_FLAGS="--xla_force_host_platform_device_count=2",
            JAX_PLATFORMS="cpu", SAVE_PATH=path,
        )
        for process in (0, 1)
    ]
    reports = run_together(HOST, envs, timeout=240)
    return path, sorted(reports, key=lambda r: r["process"])


def test_two_processes_train_one_model_over_four_devices(hosts):
    _, (first, second) = hosts
    assert first["devices"] == second["devices"] == 4
    assert first["local_devices"] == second["local_devices"] == 2
    assert np.all(np.isfinite(first["loss"]))
    # One program: the same global loss, evaluation and random state.
    assert first["loss"] == second["loss"]
    assert first["seed_state"] == second["seed_state"]
    assert first["evaluate"] == second["evaluate"]
    # Evaluation is the wrapped model's, on clean data.
    np.testing.assert_allclose(first["evaluate"], first["clean"], rtol=1e-6)


def test_each_process_draws_for_its_own_examples(hosts):
    _, (first, second) = hosts
    # Processes that drew each for its own part from the same seed would
    # repeat each other's draws.
    assert first["lam"] != second["lam"]
    perm = np.array(first["perm"])
    assert first["perm"] == second["perm"]  # one global draw
    assert (perm // 4 == np.arange(16) // 4).all()  # within each device's shard


def test_a_fresh_process_loads_what_process_0_saved_and_trains(hosts):
    path, (first, _) = hosts
    report = run_python(FRESH, path, env=child_env(KERAS_BACKEND="jax"))
    assert report["config"]["seed"] == 11 and report["rates"]["cutmix_alpha"] == 1.0
    assert report["saved_state"] == first["seed_state"]
    assert report["state"] != report["saved_state"]  # it went on drawing
    assert np.all(np.isfinite(report["loss"]))
