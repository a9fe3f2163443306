"""Threefry-2x32 with 20 rounds, in PyTorch integer ops.

Threefry (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as
1, 2, 3", SC 2011) is a counter-based generator: a keyed bijection of a
counter, so that the words for counters `0..n-1` are `n` independent draws
computed at once, anywhere, with no state but the key. It is the generator
of `jax.random`. Here it is written in ops that run on the tensors' device
and compile under `torch.compile`: PyTorch has no unsigned 32-bit
arithmetic, so the words are int64 values in `[0, 2**32)`, masked after
each addition and rotation (a 32-bit word shifted by at most 29 bits stays
below `2**63`).
"""

import torch

MASK = 0xFFFFFFFF

# The key schedule's parity constant and the rotation distances of
# Threefry-2x32 (Random123's `threefry.h`, as `jax._src.prng`).
_PARITY = 0x1BD11BDA
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_ROUNDS = 20


def _rotate_left(x, distance):
    return ((x << distance) & MASK) | (x >> (32 - distance))


def threefry2x32(key, x0, x1):
    """Threefry-2x32-20 of the counters `(x0, x1)` under `key`.

    Args:
        key: int64 tensor of shape `(2,)`, two words in `[0, 2**32)`.
        x0, x1: int64 tensors of one shape (or broadcastable), words in
            `[0, 2**32)`: the two halves of each counter.

    Returns:
        `(y0, y1)`: int64 tensors of the counters' shape, words in
        `[0, 2**32)`.

    Example (Random123's known-answer vector for zero key and counter):

    >>> zero = torch.zeros((), dtype=torch.int64)
    >>> [hex(int(y)) for y in threefry2x32(torch.zeros(2, dtype=torch.int64), zero, zero)]
    ['0x6b200159', '0x99ba4efe']
    """
    k0, k1 = key[0], key[1]
    schedule = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0 = (x0 + k0) & MASK
    x1 = (x1 + k1) & MASK
    # Five groups of four rounds, the key injected after each group.
    for group in range(_ROUNDS // 4):
        for distance in _ROTATIONS[group % 2]:
            x0 = (x0 + x1) & MASK
            x1 = _rotate_left(x1, distance) ^ x0
        x0 = (x0 + schedule[(group + 1) % 3]) & MASK
        x1 = (x1 + schedule[(group + 2) % 3] + (group + 1)) & MASK
    return x0, x1


def random_words(key, count, stream=0):
    """`count` random 32-bit words (int64 in `[0, 2**32)`) from `key`.

    The counters are `(i, stream)` for `i < ceil(count / 2)`; each gives
    two words. Different `stream` values give independent words.
    """
    pairs = (count + 1) // 2
    index = torch.arange(pairs, dtype=torch.int64, device=key.device)
    y0, y1 = threefry2x32(key, index, torch.full_like(index, stream))
    return torch.cat([y0, y1])[:count]
