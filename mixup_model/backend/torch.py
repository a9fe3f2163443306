"""PyTorch: stateless draws from Threefry, in torch ops on the device.

PyTorch has no stateless random ops: its generators hold state on the host,
and Keras's own `keras.random` on PyTorch seeds one from the seed's value.
Here every draw is a function of a seed tensor computed by the
counter-based generator Threefry-2x32 (`mixup_model.backend.threefry`, the
generator of `jax.random`) in integer ops: it runs on the seed's device,
compiles under `torch.compile` with the rest of the step, and never reads
the seed on the host. The global CPU and CUDA generators are never touched.

A seed is an int64 tensor of shape `(2,)` holding two 32-bit words. Derived
seeds and random words use different counter streams of the same key:
words `(i, 0)`, `split` `(i, 1)`, `fold_in` `(data, 2)`.

Gamma variates come from Marsaglia & Tsang's method with a fixed number of
candidates per variate, all drawn at once (no loop, no data-dependent
control flow), and the boost for shapes below 1 (`gamma_boost`).
"""

import math

import torch
from keras.src.backend.torch.core import get_device

from mixup_model.backend.draw_ahead import DrawAhead as StepDraws  # noqa: F401
from mixup_model.backend.gamma_boost import boosted_log_gamma
from mixup_model.backend.threefry import MASK
from mixup_model.backend.threefry import random_words
from mixup_model.backend.threefry import threefry2x32

# Variables are assigned in place, in the traced step or eagerly.
from mixup_model.backend.in_place import InPlaceTrainStep as TrainStep  # noqa: F401

def conditional_in_graph(x):
    """Never: Keras's `ops.switch` on PyTorch is a Python `if` on the index,
    a read to the host and a graph break under `torch.compile`. (Eagerly,
    a per-batch choice is read on the host once per block of drawn steps,
    `draw_ahead`, and applied alone.)"""
    return False

_SPLIT_STREAM = 1
_FOLD_IN_STREAM = 2

# Marsaglia-Tsang candidates, in two fixed-size rounds (no loop, no
# data-dependent shape). The sampler only sees shapes >= 1 (the boost), where
# a candidate is accepted with probability > 0.95. Round one gives every
# variate 3 candidates; the few left without an accepted one (< 1.25e-4 of
# them) take the slots of a pool in turn, each slot with 8 fresh candidates.
# The pool has room for 4 times the expected number, and at least 4, so a
# variate goes without (and takes its first candidate, a negligible bias,
# never a NaN) with probability below 1e-13.
_FIRST_CANDIDATES = 3
_POOL_CANDIDATES = 8
_REJECTION = 0.05

_TWO_TO_MINUS_24 = 2.0**-24


def as_seed(seed):
    """A seed as an int64 tensor of two 32-bit words, on the device (a
    `SeedGenerator` state, or a pair of Python ints)."""
    if not isinstance(seed, torch.Tensor):
        seed = torch.as_tensor(seed, device=get_device())
    return (seed.to(torch.int64) & MASK).reshape(2)


def split(seed, num):
    """`num` independent seeds derived from one."""
    index = torch.arange(num, dtype=torch.int64, device=seed.device)
    y0, y1 = threefry2x32(seed, index, torch.full_like(index, _SPLIT_STREAM))
    return list(torch.stack([y0, y1], dim=1).unbind(0))


def fold_in(seed, data):
    """A seed derived from `seed` and an integer (or int tensor)."""
    data = torch.as_tensor(data, device=seed.device).to(torch.int64) & MASK
    y0, y1 = threefry2x32(seed, data, torch.full_like(data, _FOLD_IN_STREAM))
    return torch.stack([y0, y1])


def _shape(shape):
    return tuple(int(s) for s in shape)


def _words(shape, seed):
    shape = _shape(shape)
    return random_words(seed, math.prod(shape)).reshape(shape)


def _unit_float(words):
    """float32 on [0, 1) from the top 24 bits: every value exact."""
    return (words >> 8).to(torch.float32) * _TWO_TO_MINUS_24


def uniform(shape, seed):
    """float32 uniform on [0, 1)."""
    return _unit_float(_words(shape, seed))


def uniform_like(x, seed):
    """float32 uniform on [0, 1) of `x`'s shape."""
    return uniform(x.shape, seed)


def uniform_int(shape, seed, maxval):
    """int32 uniform on [0, maxval): the word times `maxval`, its top 32
    bits (bias below `maxval / 2**32`)."""
    if isinstance(maxval, torch.Tensor):
        maxval = maxval.to(torch.int64)
    return ((_words(shape, seed) * maxval) >> 32).to(torch.int32)


def log_gamma(concentration, seed):
    """`log(g)`, `g ~ Gamma(concentration)`, for concentrations > 0."""
    return boosted_log_gamma(
        torch.as_tensor(concentration, dtype=torch.float32, device=get_device()),
        as_seed(seed),
        log_gamma_at_least_one=_log_gamma_marsaglia_tsang,
        split=split,
        uniform_like=uniform_like,
    )


def _pool_size(count, first_candidates):
    expected = count * _REJECTION**first_candidates
    return 4 + math.ceil(4 * expected)


def _log_gamma_marsaglia_tsang(concentration, seed, first_candidates=_FIRST_CANDIDATES):
    """`log(g)`, `g ~ Gamma(concentration)` for concentrations >= 1.

    Taking the first accepted of i.i.d. candidates is exact rejection
    sampling; a variate that round one leaves without one takes fresh
    candidates from its pool slot, independent of everything that decided
    the slots.
    """
    shape = concentration.shape
    d = concentration.reshape(-1) - 1.0 / 3.0
    c = torch.rsqrt(9.0 * d)
    count = d.shape[0]
    slots = _pool_size(count, first_candidates)
    first_words = 2 * first_candidates * count
    words = random_words(seed, first_words + 2 * _POOL_CANDIDATES * slots)
    found, log_v = _first_accepted(
        words[:first_words].reshape(2, first_candidates, count), d, c
    )
    # The variates without an accepted candidate, in order, take the slots.
    missing = ~found
    rank = torch.cumsum(missing.to(torch.int64), 0)  # missing ones up to here
    slot_index = torch.arange(1, slots + 1, device=d.device)
    owner = torch.clamp(
        (rank[None, :] < slot_index[:, None]).sum(1), max=count - 1
    )
    _, pool_log_v = _first_accepted(
        words[first_words:].reshape(2, _POOL_CANDIDATES, slots), d[owner], c[owner]
    )
    slot = torch.clamp(rank - 1, 0, slots - 1)
    from_pool = missing & (rank <= slots)
    log_v = torch.where(from_pool, pool_log_v[slot], log_v)
    return (torch.log(d) + log_v).reshape(shape)


def _first_accepted(words, d, c):
    """Marsaglia-Tsang candidates from `words` `(2, candidates, count)`:
    whether each variate accepted one, and `log v` of its first accepted
    candidate (of its first candidate if none was)."""
    # A normal from a uniform on the open interval (0, 1), as jax.random.
    open_unit = ((words[0] >> 8).to(torch.float32) + 0.5) * _TWO_TO_MINUS_24
    x = math.sqrt(2.0) * torch.erfinv(2.0 * open_unit - 1.0)
    u = 1.0 - _unit_float(words[1])  # on (0, 1]: its log is finite
    v = (1.0 + c * x) ** 3
    safe_v = torch.where(v > 0.0, v, torch.ones_like(v))
    log_v = torch.log(safe_v)
    accept = (v > 0.0) & (torch.log(u) < 0.5 * x * x + d - d * safe_v + d * log_v)
    # argmax finds the first maximum: the first accepted candidate.
    first = torch.argmax(accept.to(torch.uint8), dim=0, keepdim=True)
    return accept.any(0), torch.take_along_dim(log_v, first, dim=0)[0]


def blend_rows(x, lam, perm):
    """`methods.mixup.blend` in torch ops: its arithmetic, without Keras's dispatch.

    Eager PyTorch runs each `keras.ops` call through Keras's argument
    conversion, which costs more than the arithmetic on a small batch (a
    blend of 16 ops took about 0.2 ms, several per cent of a keras.io CNN
    step). The same one-sided step, from the larger-weight source towards
    the other by `min(lam, 1 - lam)`, in the same float arithmetic, bit for
    bit (not `torch.lerp`, which rounds differently), and in place on the
    difference, its own temporary.

    Args:
        x: A floating tensor whose first axis is the batch.
        lam: float32 `(batch,)`, each example's own weight.
        perm: int `(batch,)`, each example's partner.

    Returns:
        The blended tensor, of `x`'s shape and dtype.
    """
    keep = lam >= 0.5
    own = torch.arange(x.shape[0], device=perm.device, dtype=perm.dtype)
    base = torch.where(keep, own, perm)
    other = torch.where(keep, perm, own)
    step = torch.where(keep, 1.0 - lam, lam).to(x.dtype)
    step = step.reshape((-1,) + (1,) * (x.dim() - 1))
    start = x.index_select(0, base)
    return (x.index_select(0, other) - start).mul_(step).add_(start)


def replica_seed(seed):
    # One process per GPU (DDP): each process folds in its rank.
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        seed = fold_in(seed, torch.distributed.get_rank())
    return seed
