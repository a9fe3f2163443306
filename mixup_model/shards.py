"""Partners from each device's own shard of the batch.

Under `keras.distribution` on JAX (`DataParallel`, or `ModelParallel` with
a batch axis) the train step is one SPMD program over the global batch,
split along its first axis over the devices of the mesh's batch axis. If
partners came from the whole batch, XLA's partitioner would move every
input between the devices (an all-gather or all-reduce of the batch, each
step), and each device would hold the global batch. Here, as each replica
of `tf.distribute` and each process of timm mixes its own batch, an
example's partner comes from its own device's shard.

The gathers are written on the batch viewed as `(shards, shard_size, ...)`
and taken with `take_along_axis` along the second axis: the partitioner
keeps them on each device, so the mixed step has exactly the plain step's
collectives (tested at 2, 4 and 8 devices). The partners are still global
batch indices (`MixParams.perm`), each in its example's own shard. Without
a distribution there is one shard and every draw is as before.
"""

import keras
from keras import ops


def batch_shards(batch_size):
    """How many shards the current `keras.distribution` splits a batch of
    `batch_size` examples into (1 without a distribution, or where its
    data layout does not split the batch).

    Raises:
        ValueError: The batch cannot be split evenly over the devices of
            the batch axis; the message names both numbers.
    """
    distribution = keras.distribution.distribution()
    if distribution is None or keras.backend.backend() != "jax":
        # Only JAX's trainer lays the batch out by `keras.distribution`;
        # `tf.distribute` replicas and PyTorch processes hold their own.
        return 1
    batch_axis = distribution.get_data_layout((batch_size,)).axes[0]
    if batch_axis is None:
        return 1
    mesh = distribution.device_mesh
    shards = int(mesh.shape[list(mesh.axis_names).index(batch_axis)])
    if shards > 1 and batch_size % shards:
        raise ValueError(
            f"A batch of {batch_size} examples cannot be split evenly over "
            f"the {shards} devices of the distribution's batch axis "
            f"{batch_axis!r}: each device mixes its own shard. Use a batch "
            f"size that is a multiple of {shards}. Received: "
            f"batch_size={batch_size}, devices={shards}"
        )
    return shards


def shard_offsets(batch_size, shards, dtype="int32"):
    """`(batch,)`: the index of the first example of each example's shard
    (zeros for one shard)."""
    size = batch_size // shards
    return ops.repeat(ops.arange(shards, dtype=dtype) * size, size)


def within_shards(function, values, shards):
    """`function` applied along the last axis of each shard of the 1-D
    `values` (e.g. `argsort`), as one call on the `(shards, size)` view."""
    if shards == 1:
        return function(values)
    batch_size = values.shape[0]
    rows = function(ops.reshape(values, (shards, batch_size // shards)))
    return ops.reshape(rows, (batch_size,))


def take_partners(x, index, shards=None):
    """`x[index]` along the batch axis, gathered within each shard.

    Args:
        x: A tensor whose first axis is the batch.
        index: int `(batch,)` global batch indices, each in its own
            example's shard (as `MixParams.perm`).
        shards: The number of shards; defaults to `batch_shards` of `x`.

    Returns:
        A tensor of `x`'s shape and dtype.
    """
    x = ops.convert_to_tensor(x)
    if shards is None:
        shards = batch_shards(x.shape[0])
    if shards == 1:
        return ops.take(x, index, axis=0)
    index = ops.convert_to_tensor(index)
    batch_size, rest = x.shape[0], tuple(x.shape[1:])
    size = batch_size // shards
    local = index - shard_offsets(batch_size, shards, index.dtype)
    local = ops.reshape(local, (shards, size) + (1,) * len(rest))
    # The index broadcasts over the other axes (no index array of x's size).
    taken = ops.take_along_axis(ops.reshape(x, (shards, size) + rest), local, axis=1)
    return ops.reshape(taken, x.shape)
