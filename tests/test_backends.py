"""What each backend must get right: the random state and the rates are model
state but not weights, they advance and save on every backend, PyTorch's
global generators are left alone, and a `.keras` file crosses backends."""

import importlib.util
import os
import textwrap

import numpy as np
import pytest

from mixup_model import MixupModel
from tests.backends import BACKEND
from tests.backends import numpy
from tests.helpers import classification_data
from tests.helpers import compile_sgd
from tests.helpers import dense_classifier
from tests.subprocess_utils import child_env
from tests.subprocess_utils import free_port
from tests.subprocess_utils import run_python
from tests.subprocess_utils import run_together


def test_rates_and_random_state_are_state_but_not_weights():
    net = dense_classifier()
    model = MixupModel(net, alpha=0.3, seed=1)
    assert len(model.weights) == len(net.weights)
    for ours, theirs in zip(model.get_weights(), net.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    model.set_weights([w + 1.0 for w in net.get_weights()])
    np.testing.assert_array_equal(net.get_weights()[1], model.get_weights()[1])
    # They travel with the step's state (JAX), and are saved by the model.
    state = {id(v) for v in model.non_trainable_variables}
    assert id(model.mixup_rates) in state
    assert id(model.mixup_seed_generator.state) in state
    assert all(w is not model.mixup_rates for w in model.weights)


def test_the_random_state_advances_every_step_in_train_on_batch():
    # On JAX a draw outside the step's state would repeat the same lambda.
    x, y = classification_data(n=16)
    model = compile_sgd(MixupModel(dense_classifier(), alpha=1.0, seed=3), jit="auto")
    weights = model.get_weights()
    losses, states = [], []
    for _ in range(3):
        states.append(numpy(model.mixup_seed_generator.state).copy())
        model.set_weights(weights)
        losses.append(float(model.train_on_batch(x, y)))
    assert [int(s[1]) for s in states] == [0, 1, 2]
    # Same weights, different lambdas: different losses.
    assert len(set(np.round(losses, 6))) == 3


def test_mixed_targets_are_computed_once_where_the_backend_allows(monkeypatch):
    # TensorFlow and PyTorch run the loss and the metrics on the same
    # tensors, so the metrics reuse the loss's mixed targets; on JAX the
    # loss runs inside `jax.grad`, and each computes its own.
    import traceback

    import mixup_model.model as model_module

    callers = []
    mix_targets = model_module.mix_targets

    def counting(*args, **kwargs):
        names = [frame.name for frame in traceback.extract_stack()]
        callers.append("compute_metrics" if "compute_metrics" in names else "loss")
        return mix_targets(*args, **kwargs)

    monkeypatch.setattr(model_module, "mix_targets", counting)
    x, y = classification_data(n=16)
    model = MixupModel(dense_classifier(), alpha=1.0, seed=3)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.train_on_batch(x, y)
    assert "loss" in callers
    assert ("compute_metrics" in callers) == (BACKEND == "jax")


def _lams(seed, steps=3, n=8):
    model = MixupModel(dense_classifier(), alpha=1.0, seed=seed)
    return [numpy(model.sample_mix_params(n).lam) for _ in range(steps)]


def test_neighbouring_seeds_do_not_draw_shifted_streams():
    # Keras's own PyTorch seeding is `seed + counter`: seed 2 would replay
    # seed 1's stream one step later.
    one, two = _lams(1), _lams(2)
    for k in range(len(one) - 1):
        assert not np.allclose(two[k], one[k + 1])
    assert not np.allclose(one[0], two[0])


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch's global generators")
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "compile"])
def test_a_torch_step_leaves_the_global_generators_alone(jit, monkeypatch):
    import functools

    import torch

    x, y = classification_data(n=16)
    if jit:
        # Dynamo's graphs run as traced (no Inductor code generation, a
        # minute on a CPU): the draws are torch ops of the graph either way.
        monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    model = compile_sgd(MixupModel(dense_classifier(), alpha=1.0, seed=0), jit=jit)
    model.train_on_batch(x, y)  # builds (and compiles)
    cpu = torch.random.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    model.train_on_batch(x, y)
    assert torch.equal(torch.random.get_rng_state(), cpu)
    for before, after in zip(cuda, torch.cuda.get_rng_state_all()):
        assert torch.equal(before, after)
    # And a user's reseeding of torch does not change the lambdas.
    torch.manual_seed(123)
    reseeded = _lams(5)
    torch.manual_seed(456)
    np.testing.assert_array_equal(np.stack(reseeded), np.stack(_lams(5)))


SAVE_ON_ANOTHER_BACKEND = textwrap.dedent(
    """
    import json, sys
    import keras
    import numpy as np
    from mixup_model import MixupModel
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.integers(0, 3, 32)
    net = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3, activation="softmax")])
    model = MixupModel(net, alpha=0.4, cutmix_alpha=0.0, prob=0.9, seed=11)
    model.compile("sgd", "sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    model.alpha = 0.25  # as a schedule left it
    model.save(sys.argv[1])
    print(json.dumps({
        "backend": keras.backend.backend(),
        "state": [int(v) for v in keras.ops.convert_to_numpy(model.mixup_seed_generator.state)],
        "predictions": keras.ops.convert_to_numpy(model.predict(x, verbose=0)).tolist(),
    }))
    """
)


LOAD_AND_TRAIN = textwrap.dedent(
    """
    import json, sys
    import keras
    import numpy as np
    import mixup_model  # registers MixupModel for loading
    loaded = keras.models.load_model(sys.argv[1])
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.integers(0, 3, 32)
    report = {
        "backend": keras.backend.backend(),
        "rates": loaded.current_rates(),
        "state": [int(v) for v in keras.ops.convert_to_numpy(loaded.mixup_seed_generator.state)],
        "predictions": keras.ops.convert_to_numpy(loaded.predict(x, verbose=0)).tolist(),
    }
    loaded.compile("sgd", "sparse_categorical_crossentropy")
    report["loss"] = loaded.fit(x, y, batch_size=8, epochs=1, verbose=0).history["loss"][0]
    report["state_after"] = [int(v) for v in keras.ops.convert_to_numpy(loaded.mixup_seed_generator.state)]
    print(json.dumps(report))
    """
)


# Each backend saves a file once and loads one once, round a cycle: a
# file saved on PyTorch goes to JAX, because Keras saves a compiled model's
# optimizer under its backend's module (keras.src.backend.torch.optimizers...)
# and loading that imports torch, whose triton import crashes a process that
# runs TensorFlow.
SAVED_ON_FOR = {"tensorflow": "jax", "jax": "torch", "torch": "tensorflow"}


def test_a_keras_file_saved_on_another_backend_loads_and_trains(tmp_path):
    other = SAVED_ON_FOR[BACKEND]
    if importlib.util.find_spec(other) is None:  # looked up, not imported
        pytest.skip(f"{other} is not installed")
    path = str(tmp_path / f"saved_on_{other}.keras")
    saved = run_python(SAVE_ON_ANOTHER_BACKEND, path, env=child_env(KERAS_BACKEND=other))
    assert saved["backend"] == other
    # Loaded in a fresh process of this backend (one that never imported
    # the other backend's packages).
    loaded = run_python(LOAD_AND_TRAIN, path, env=child_env(KERAS_BACKEND=BACKEND))
    assert loaded["backend"] == BACKEND
    assert loaded["rates"] == {
        "alpha": 0.25, "cutmix_alpha": 0.0, "prob": 0.9, "switch_prob": 0.5,
        "resizemix_alpha": 0.0, "fmix_alpha": 0.0,
    }
    assert saved["state"][1] == 4  # 4 steps, saved: it continues, not replays
    assert loaded["state"] == saved["state"]
    np.testing.assert_allclose(
        loaded["predictions"], saved["predictions"], rtol=1e-5, atol=1e-6
    )
    assert np.isfinite(loaded["loss"])
    assert loaded["state_after"][1] == 8


def test_the_import_does_not_need_tensorflow_off_its_backend():
    # Only `MixupTensorBoard` (like Keras's TensorBoard) writes with
    # TensorFlow; on JAX and PyTorch nothing imports it.
    if BACKEND == "tensorflow":
        pytest.skip("TensorFlow is the backend")
    report = run_python(
        "import sys, json, mixup_model\n"
        "print(json.dumps({'tf': 'tensorflow' in sys.modules}))",
        env=child_env(KERAS_BACKEND=BACKEND),
    )
    assert report == {"tf": False}
    assert os.environ["KERAS_BACKEND"] == BACKEND


_TORCH_PROCESS = textwrap.dedent("""
    import json, os
    import numpy as np
    import torch.distributed as dist
    import keras
    from mixup_model import MixupModel
    from tests.helpers import classification_data, dense_classifier

    if os.environ["RANK"] != "none":
        dist.init_process_group("gloo")  # rank, world size, address: env
    model = MixupModel(dense_classifier(), alpha=1.0, seed=5)
    model.compile("sgd", "sparse_categorical_crossentropy")
    params = model.sample_mix_params(64)
    x, y = classification_data(n=16)
    loss = float(model.train_on_batch(x, y))
    print(json.dumps({
        "lam": keras.ops.convert_to_numpy(params.lam).tolist(),
        "perm": keras.ops.convert_to_numpy(params.perm).tolist(),
        "loss": loss,
    }))
""")


@pytest.mark.skipif(BACKEND != "torch", reason="PyTorch's process groups")
def test_each_pytorch_process_draws_its_own_lambdas():
    # What the docs claim for several processes on PyTorch (one per GPU,
    # `torch.distributed` initialised): with the same seed, each process
    # folds its rank into the draws, so no two draw the same lambdas.
    port = str(free_port())
    envs = [
        child_env(KERAS_BACKEND="torch", RANK=str(rank), WORLD_SIZE="2",
                  MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
        for rank in range(2)
    ]
    rank0, rank1 = run_together(_TORCH_PROCESS, envs)
    alone = run_python(_TORCH_PROCESS, env=child_env(KERAS_BACKEND="torch", RANK="none"))
    for result in (rank0, rank1, alone):
        assert sorted(result["perm"]) == list(range(64))
        assert np.isfinite(result["loss"])
    assert not np.allclose(rank0["lam"], rank1["lam"])
    assert rank0["perm"] != rank1["perm"]
    assert not np.allclose(rank0["lam"], alone["lam"])
