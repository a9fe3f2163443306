"""PyTorch's draws: Threefry in torch ops, inside the compiled graph, and
drawn ahead in eager steps without changing a single number.

The generator is checked against Random123's published known-answer vectors
and against `jax.random`'s own Threefry; its uniforms, permutations and
neighbouring seeds statistically; the step's draws for being the same
eagerly (blocks of steps at once) and under `torch.compile` (one step in the
graph), and for adding no graph break to the compiled step.
"""

import numpy as np
import pytest

from tests.backends import BACKEND
from tests.backends import compile_with_inductor

pytestmark = pytest.mark.skipif(BACKEND != "torch", reason="PyTorch's generator")

if BACKEND == "torch":
    import keras
    import torch

    from mixup_model import MixupModel
    from mixup_model.backend import torch as torch_backend
    from mixup_model.backend.step_draws import StepDraws
    from mixup_model.backend.threefry import random_words
    from mixup_model.backend.threefry import threefry2x32
    from mixup_model.draws import sample_permutation
    from tests.helpers import classification_data
    from tests.helpers import compile_sgd
    from tests.helpers import dense_classifier
    from tests.stats import ks_pvalue


def _words(*values):
    return torch.tensor(values, dtype=torch.int64)


# Random123's kat_vectors for threefry2x32_20: (key, counter, result), as
# jax's tests/random_test.py also checks them.
KNOWN_ANSWERS = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("key, counter, expected", KNOWN_ANSWERS)
def test_threefry_known_answer_vectors(key, counter, expected):
    y0, y1 = threefry2x32(_words(*key), _words(counter[0]), _words(counter[1]))
    assert (int(y0[0]), int(y1[0])) == expected


def test_threefry_matches_jax_on_random_inputs():
    jax_random = pytest.importorskip("jax.extend.random")
    rng = np.random.default_rng(0)
    key = rng.integers(0, 2**32, 2, dtype=np.uint32)
    x = rng.integers(0, 2**32, (2, 1000), dtype=np.uint32)
    expected = np.asarray(jax_random.threefry_2x32(key, x.reshape(-1)))
    y0, y1 = threefry2x32(
        torch.as_tensor(key.astype(np.int64)),
        torch.as_tensor(x[0].astype(np.int64)),
        torch.as_tensor(x[1].astype(np.int64)),
    )
    np.testing.assert_array_equal(torch.cat([y0, y1]).numpy(), expected.astype(np.int64))


def test_words_and_uniforms_are_uniform():
    words = random_words(_words(3, 4), 200_000).numpy()
    assert words.min() >= 0 and words.max() < 2**32
    # Each byte of the words, and the uniforms built from their top bits.
    for shift in (0, 8, 16, 24):
        counts = np.bincount((words >> shift) & 0xFF, minlength=256)
        chi2 = ((counts - counts.mean()) ** 2 / counts.mean()).sum()
        assert chi2 < 255 + 6 * np.sqrt(2 * 255)
    u = torch_backend.uniform((100_000,), _words(5, 6)).numpy()
    assert u.dtype == np.float32 and u.min() >= 0.0 and u.max() < 1.0
    assert ks_pvalue(u, np.random.default_rng(1).random(100_000)) > 1e-3


def test_bounded_integers_cover_their_range_evenly():
    drawn = torch_backend.uniform_int((60_000,), _words(1, 1), 6).numpy()
    counts = np.bincount(drawn, minlength=6)
    assert drawn.min() == 0 and drawn.max() == 5
    assert ((counts - 10_000) ** 2 / 10_000).sum() < 5 + 6 * np.sqrt(10)


def test_each_position_takes_every_partner_equally_often():
    batch, draws = 6, 3000
    counts = np.zeros((batch, batch))
    seed = torch_backend.as_seed([8, 0])
    for step in range(draws):
        perm = sample_permutation(batch, torch_backend.fold_in(seed, step)).numpy()
        counts[np.arange(batch), perm] += 1
    expected = draws / batch
    chi2 = ((counts - expected) ** 2 / expected).sum(axis=1)
    # Each row: chi-square with 5 degrees of freedom; 30 is p < 2e-5.
    assert (chi2 < 30).all(), chi2


@pytest.mark.parametrize("neighbour", [(0, 1), (1, 0)], ids=["counter", "seed"])
def test_neighbouring_seeds_draw_independent_streams(neighbour):
    n = 20_000
    base = (123, 456)
    other = (base[0] + neighbour[0], base[1] + neighbour[1])
    a = torch_backend.uniform((n,), torch_backend.as_seed(base)).numpy()
    b = torch_backend.uniform((n,), torch_backend.as_seed(other)).numpy()
    assert abs(np.corrcoef(a, b)[0, 1]) < 5 / np.sqrt(n)
    # A shifted copy would correlate with a lag.
    for lag in (1, 2):
        assert abs(np.corrcoef(a[lag:], b[:-lag])[0, 1]) < 5 / np.sqrt(n)


def test_marsaglia_tsang_accepts_95_percent_at_shape_one():
    # The bound the fixed rounds are sized by (shapes >= 1 after the boost).
    d = torch.full((100_000,), 1.0 - 1.0 / 3.0)
    words = random_words(_words(2, 9), 2 * 100_000).reshape(2, 1, 100_000)
    accepted, _ = torch_backend._first_accepted(words, d, torch.rsqrt(9.0 * d))
    assert accepted.float().mean() > 0.95


@pytest.mark.parametrize("first_candidates", [1, 3])
def test_variates_left_without_a_candidate_take_the_pool(first_candidates):
    # With one candidate in round one, about 5% of the variates come from
    # the pool's slots: a wrong slot or value would show in the law.
    n = 20_000
    log_g = torch_backend._log_gamma_marsaglia_tsang(
        torch.full((n,), 1.5), _words(4, 2), first_candidates=first_candidates
    ).numpy()
    assert np.isfinite(log_g).all()
    reference = np.random.default_rng(0).gamma(1.5, size=n)
    assert ks_pvalue(np.exp(log_g), reference) > 1e-3


def assert_same_draw(ours, theirs):
    """Integers (partners, boxes, switches) bit for bit; floats (lambda) to
    the last bit or two: PyTorch's CPU kernels compute `sigmoid` (an `exp`)
    with vector instructions for most elements and scalar code for a
    tensor's tail, so a value's last bit depends on the tensor's size."""
    for a, b in zip(ours, theirs, strict=True):
        if isinstance(a, torch.Tensor):
            a, b = a.numpy(), b.numpy()
        if isinstance(a, np.ndarray) and a.dtype.kind == "f":
            np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)
        else:
            np.testing.assert_array_equal(a, b)


def _per_step_draws(model):
    """`model` drawing step by step, as the compiled step does."""
    object.__setattr__(
        model, "_step_draws", StepDraws(model.mixup_seed_generator, model.mixup_rates)
    )
    return model


def _script(model):
    """A run of draws, with what changes a block's inputs on the way: a rate
    change, another batch size, a rewound random state."""
    out = []
    for step in range(90):
        if step == 20:
            model.alpha = 0.7
        if step == 40:
            model.mixup_seed_generator.state.assign(np.array([0, 5], "int32"))
        batch = 5 if step in (50, 51, 60) else 12
        params = model.sample_mix_params(batch, image_size=(8, 8))
        out.append([
            np.asarray(p.numpy().copy() if isinstance(p, torch.Tensor) else p)
            for p in keras.tree.flatten(params) if p is not None
        ])
    return out


def _mixup_cutmix(seed=3):
    return MixupModel(dense_classifier((8, 8, 1)), alpha=0.3, cutmix_alpha=1.0, seed=seed)


def test_eager_blocks_draw_the_step_by_step_numbers():
    ahead = _script(_mixup_cutmix())
    step_by_step = _script(_per_step_draws(_mixup_cutmix()))
    for ours, theirs in zip(ahead, step_by_step, strict=True):
        assert_same_draw(ours, theirs)
    # The rate change took effect at once: lambdas from Beta(0.7) after it.
    assert not np.array_equal(ahead[19][0], ahead[20][0])


def test_compiled_draws_are_the_eager_draws():
    # Inductor's code for the draw (mixup's: CutMix's boxes are the same
    # integer ops, and Inductor takes minutes on a CPU for the larger graph).
    def model():
        return MixupModel(dense_classifier((8, 8, 1)), alpha=0.3, seed=9)

    eager, compiled_model = model(), model()
    draw = compile_with_inductor(lambda: compiled_model.sample_mix_params(12))
    for _ in range(3):
        assert_same_draw(eager.sample_mix_params(12), draw())
    # The state advanced in the compiled function, as eagerly.
    np.testing.assert_array_equal(
        compiled_model.mixup_seed_generator.state.numpy(),
        eager.mixup_seed_generator.state.numpy(),
    )


def test_the_batch_method_is_read_once_per_block_on_a_cpu():
    # Eagerly on a CPU, each step knows its batch's method on the host (read
    # once per block of drawn steps), so it applies the chosen method alone;
    # the other method's region is empty.
    model = _mixup_cutmix()
    for _ in range(6):
        params = model.sample_mix_params(12, image_size=(8, 8))
        assert isinstance(params.method, int) and params.method in (0, 1)
        assert params.regions[0] is None  # mixup's
        box = params.regions[1].box.numpy()
        area = (box[:, 1] - box[:, 0]) * (box[:, 3] - box[:, 2])
        assert params.method == 1 or np.all(area == 0)


def _dynamo_counts(model, x, y, monkeypatch):
    """Graph breaks and graphs of `model`'s compiled train steps over a few
    steps, captured by dynamo (with its `eager` backend: the same graphs,
    without inductor's minutes of code generation)."""
    import functools

    from torch._dynamo.utils import counters

    monkeypatch.setattr(torch, "compile", functools.partial(torch.compile, backend="eager"))
    torch._dynamo.reset()
    counters.clear()
    compile_sgd(model, loss="categorical_crossentropy", jit=True)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0)
    return dict(counters["graph_break"]), counters["stats"]["unique_graphs"]


def test_mixup_adds_no_graph_break_under_torch_compile(monkeypatch):
    # Keras's own step breaks its graph (at `backward()`, and where it reads
    # scalars); mixup adds no break. It adds one graph: `MixupModel`'s
    # `train_step` calls Keras's, and dynamo resumes after the `backward()`
    # break one frame per level of calls, so the draw and the mix are a
    # graph of their own. Over 8 steps, a step that changed Python state
    # would recompile at every step instead.
    x, _ = classification_data(n=32, input_shape=(8, 8, 1))
    y = np.eye(3, dtype="float32")[np.arange(32) % 3]
    plain = _dynamo_counts(dense_classifier((8, 8, 1)), x, y, monkeypatch)
    mixed = _dynamo_counts(
        MixupModel(dense_classifier((8, 8, 1)), alpha=0.2, cutmix_alpha=1.0, seed=0),
        x, y, monkeypatch,
    )
    assert mixed[0] == plain[0]
    assert mixed[1] == plain[1] + 1


@pytest.mark.skipif(
    BACKEND != "torch" or not torch.cuda.is_available(), reason="needs a CUDA device"
)
def test_a_cuda_step_never_synchronises_with_the_host():
    x, y = classification_data(n=16, input_shape=(8, 8, 1))
    data = (torch.as_tensor(x, device="cuda"), torch.as_tensor(y, device="cuda"))

    def steps_without_sync(model):
        compile_sgd(model).train_on_batch(x, y)  # builds
        torch.cuda.set_sync_debug_mode("error")
        try:
            for _ in range(3):
                model.train_step(data)
        finally:
            torch.cuda.set_sync_debug_mode("default")

    try:
        steps_without_sync(dense_classifier((8, 8, 1)))
    except RuntimeError as error:
        pytest.skip(f"Keras's own step synchronises here: {error}")
    steps_without_sync(_mixup_cutmix())
