"""The random draws that every mixing method shares: lambda ~ Beta(alpha,
alpha), one per example or per batch, and the partner permutation.

Everything is `keras.ops` code over the backend's stateless draws
(`mixup_model.backend`), so it runs inside every backend's compiled train
step. Seeds are stateless seeds of shape `(2,)`, as `SeedGenerator.next()`
returns them; `split` and `fold_in` derive independent ones.
"""

from keras import ops

from mixup_model.arguments import check_choice
from mixup_model.backend import current as backend
from mixup_model.beta import sample_beta
from mixup_model.shards import batch_shards
from mixup_model.shards import shard_offsets
from mixup_model.shards import take_partners
from mixup_model.shards import within_shards

LAMBDA_MODES = ("per_sample", "per_batch")


def validate_lambda_mode(lambda_mode):
    """Returns `lambda_mode`, or raises a ValueError naming the choices."""
    return check_choice("lambda_mode", lambda_mode, LAMBDA_MODES)


def batch_shape(batch_size):
    # A 1-D shape; on TensorFlow the batch size may be a scalar tensor.
    return (batch_size,)


def sample_lambda(batch_size, alpha, seed, lambda_mode="per_sample"):
    """Draws lambda ~ Beta(alpha, alpha): one per example or one per batch."""
    validate_lambda_mode(lambda_mode)
    shape = batch_shape(batch_size)
    if lambda_mode == "per_sample":
        return sample_beta(shape, alpha, alpha, seed)
    return ops.broadcast_to(sample_beta((), alpha, alpha, seed), shape)


def sample_permutation(batch_size, seed):
    """A uniformly random permutation of `range(batch_size)`; under a
    `keras.distribution` that shards the batch, of each shard's examples
    (`mixup_model.shards`)."""
    # argsort of i.i.d. uniforms is a uniformly random permutation (XLA has
    # no shuffle kernel, but it sorts).
    shards = batch_shards(batch_size)
    uniforms = backend.uniform(batch_shape(batch_size), backend.as_seed(seed))
    order = ops.cast(within_shards(ops.argsort, uniforms, shards), "int32")
    if shards == 1:
        return order
    return order + shard_offsets(batch_size, shards)


def pair_partners(batch_size, seed):
    """A random pairing of the batch: `(perm, leader)` where `perm` swaps the
    two examples of each pair (`perm[perm[i]] == i`) and `leader[i]` is the
    pair's first example, whose draws the pair shares. With an odd batch
    (shard) one example is its own partner, which leaves it unchanged.
    Under a distribution, pairs form within each shard."""
    shards = batch_shards(batch_size)
    order = sample_permutation(batch_size, seed)
    offsets = 0 if shards == 1 else shard_offsets(batch_size, shards)
    # Each example's position in `order`, counted within its shard.
    position = ops.cast(within_shards(ops.argsort, order - offsets, shards), "int32")
    partner_position = position + 1 - 2 * (position % 2)
    last = ops.cast(batch_size // shards, "int32") - 1
    partner_position = ops.where(partner_position > last, position, partner_position)
    perm = take_partners(order, partner_position + offsets, shards)
    leader = take_partners(order, position - position % 2 + offsets, shards)
    return perm, leader


# Concentrations are clamped to this before a recipe samples: a rate
# scheduled to 0 switches its method off through the recipe's gates, and the
# sampler still runs on a finite value.
MIN_CONCENTRATION = 1e-3
