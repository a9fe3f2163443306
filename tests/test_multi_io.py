"""Several inputs and outputs: one lambda for all of them."""

import keras
import numpy as np
import pytest
from keras import ops

from mixup_model.mixing import mix_inputs
from mixup_model.params import MixParams
from tests.backends import JIT
from tests.backends import numpy
from tests.helpers import NUM_CLASSES
from tests.helpers import draw_as_in_step
from tests.helpers import two_headed_model
from tests.helpers import two_term_cross_entropy


def test_mix_inputs_mixes_floats_keeps_ids_unless_told():
    params = MixParams(ops.convert_to_tensor([0.25, 0.5]), ops.convert_to_tensor([1, 0], "int32"))
    x = {
        "image": ops.convert_to_tensor([[1.0], [3.0]]),
        "ids": ops.convert_to_tensor([[1], [2]]),
    }
    mixed = mix_inputs(x, params)
    np.testing.assert_allclose(numpy(mixed["image"]), [[2.5], [2.0]])
    np.testing.assert_array_equal(numpy(mixed["ids"]), [[1], [2]])
    chosen = mix_inputs(x, params, include=["ids"])
    np.testing.assert_allclose(numpy(chosen["ids"]), [[1.75], [1.5]])
    np.testing.assert_array_equal(numpy(chosen["image"]), [[1.0], [3.0]])
    listed = mix_inputs([x["image"], x["ids"]], params, include=[0])
    np.testing.assert_allclose(numpy(listed[0]), [[2.5], [2.0]])
    with pytest.raises(ValueError, match=r"names \['mask'\].*\['image', 'ids'\]"):
        mix_inputs(x, params, include=["mask"])


@JIT
@pytest.mark.parametrize("cutmix", [False, True], ids=["mixup", "cutmix"])
def test_dict_inputs_and_outputs_share_one_lambda(jit, cutmix):
    rng = np.random.default_rng(1)
    n = 16
    x = {
        "image": rng.normal(size=(n, 4, 4, 1)).astype("float32"),
        "meta": rng.normal(size=(n, 3)).astype("float32"),
        "ids": rng.integers(0, 5, size=(n, 2)).astype("int32"),
    }
    y = {
        "label": rng.integers(0, NUM_CLASSES, size=n),
        "value": rng.normal(size=(n, 1)).astype("float32"),
    }
    rates = {"alpha": 0.0, "cutmix_alpha": 1.0} if cutmix else {"alpha": 1.0}
    model = two_headed_model(seed=4, **rates)
    model.compile(
        keras.optimizers.SGD(0.1),
        loss={"label": "sparse_categorical_crossentropy", "value": "mse"},
        jit_compile=jit,
    )
    params = draw_as_in_step(model, n, (4, 4) if cutmix else None, jit)
    lam, perm = numpy(params.lam), numpy(params.perm)
    mixed = {k: np.asarray(v) for k, v in mix_inputs(x, params).items()}
    np.testing.assert_array_equal(mixed["ids"], x["ids"])
    np.testing.assert_allclose(
        mixed["meta"], lam[:, None] * x["meta"] + (1 - lam[:, None]) * x["meta"][perm],
        rtol=1e-5, atol=1e-6,
    )
    out = {k: numpy(v) for k, v in model(mixed, training=True).items()}
    # Class ids split the loss into two weighted terms for every output.
    value = y["value"][:, 0]
    mse = lambda t: (out["value"][:, 0] - t) ** 2  # noqa: E731
    expected = two_term_cross_entropy(out["label"], y["label"], lam, perm) + np.mean(
        lam * mse(value) + (1 - lam) * mse(value[perm])
    )
    loss = model.train_on_batch(x, y, return_dict=True)["loss"]
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
