"""PyTorch: draws from private `torch.Generator`s, never the global one.

PyTorch has no stateless random ops. Keras's own `keras.random` on PyTorch
seeds a generator with `seed + counter` (so `SeedGenerator(2)` replays
`SeedGenerator(1)`'s stream one step later), and its `beta`/`gamma` reseed
torch's global generator. Here a seed is a pair of uint32 values, derived
seeds come from numpy's `SeedSequence` (a hash of the whole pair), and each
draw uses a fresh `torch.Generator` on the device, seeded from its seed: the
global generators (CPU and CUDA) are never touched.

Seeding a generator needs the seed on the host, so the sampler runs outside
`torch.compile`'s graph (`sample_in_step`): the compiled step breaks its
graph there, draws eagerly, and resumes.
"""

import numpy as np
import torch
from keras.src.backend.torch.core import get_device

# Variables are assigned in place, in the traced step or eagerly.
from mixup_model.backend.in_place import InPlaceTrainStep as TrainStep  # noqa: F401


def as_seed(seed):
    """A seed as a numpy uint32 pair (reads a device tensor to the host)."""
    if isinstance(seed, torch.Tensor):
        seed = seed.detach().cpu().numpy()
    return np.asarray(seed).astype(np.int64).astype(np.uint32).reshape(2)


def _entropy(seed, *more):
    return [int(v) for v in seed] + [int(v) for v in more]


def split(seed, num):
    state = np.random.SeedSequence(_entropy(seed, num, 0x5EED)).generate_state(
        2 * num
    )
    return list(state.reshape(num, 2))


def fold_in(seed, data):
    return np.random.SeedSequence(_entropy(seed, int(data), 0xF01D)).generate_state(2)


def _generator(seed):
    generator = torch.Generator(device=get_device())
    generator.manual_seed(
        int(np.random.SeedSequence(_entropy(seed)).generate_state(1, np.uint64)[0])
    )
    return generator


def _shape(shape):
    return tuple(int(s) for s in shape)


def uniform(shape, seed):
    return torch.rand(
        _shape(shape), generator=_generator(seed), device=get_device()
    )


def uniform_int(shape, seed, maxval):
    return torch.randint(
        0, int(maxval), _shape(shape), generator=_generator(seed),
        device=get_device(), dtype=torch.int32,
    )


def log_gamma(concentration, seed):
    """`log(g)`, `g ~ Gamma(concentration)`: torch's Gamma kernel draws
    Gamma(a + 1), which never underflows, and the boost
    Gamma(a) = Gamma(a + 1) * U ** (1 / a) is applied in log space."""
    concentration = torch.as_tensor(
        concentration, dtype=torch.float32, device=get_device()
    )
    gamma_seed, boost_seed = split(seed, 2)
    log_g = torch.log(
        torch._standard_gamma(concentration + 1.0, generator=_generator(gamma_seed))
    )
    # Uniform on (0, 1]: its log is finite.
    u = 1.0 - uniform(concentration.shape, boost_seed)
    return log_g + torch.log(u) / concentration


def replica_seed(seed):
    # One process per GPU (DDP): each process folds in its rank.
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        seed = fold_in(seed, torch.distributed.get_rank())
    return seed


@torch._dynamo.disable
def sample_in_step(sampler, *args, **kwargs):
    params = sampler(*args, **kwargs)
    if isinstance(params.cutmix, torch.Tensor) and params.cutmix.dim() == 0:
        # The draws are eager anyway: the mixup/CutMix switch as a Python
        # bool keeps a data-dependent branch out of `torch.compile`'s graph
        # (one graph per method instead).
        params = params._replace(cutmix=bool(params.cutmix))
    return params

