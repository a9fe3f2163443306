"""The recipe: one batch's `MixParams` from the registered methods.

The split follows timm's `Mixup`: this module draws what is random about a
batch (whether it is mixed at all, with which method, the partners, and
each method's own parameters from `mixup_model.methods`) and
`mixup_model.mixing` and `mixup_model.targets` apply it. Everything is
`keras.ops` code over the backend's stateless draws, so it runs inside
every backend's compiled train step, and every rate may be a tensor read
from a variable, so that schedules change it without re-tracing the step.

Seeds are stateless seeds of shape `(2,)`, as `SeedGenerator.next()`
returns them; `split` and `fold_in` derive independent ones.
"""

from keras import ops

from mixup_model.arguments import check_choice
from mixup_model.backend import current as backend
from mixup_model.draws import batch_shape
from mixup_model.draws import sample_permutation
from mixup_model.methods import cutmix as cutmix_method
from mixup_model.methods import mixup as mixup_method
from mixup_model.params import MixParams
from mixup_model.shards import batch_shards
from mixup_model.shards import shard_offsets
from mixup_model.shards import take_partners
from mixup_model.shards import within_shards

# Moved to their own modules (one per method, `mixup_model.draws`,
# `mixup_model.params`); importable from here as before.
from mixup_model.draws import LAMBDA_MODES  # noqa: F401,E402
from mixup_model.draws import sample_lambda  # noqa: F401,E402
from mixup_model.draws import validate_lambda_mode  # noqa: F401,E402
from mixup_model.methods.cutmix import sample_boxes  # noqa: F401,E402
from mixup_model.methods.cutmix import sample_segments  # noqa: F401,E402
from mixup_model.methods.mixup import sample_mix_params  # noqa: F401,E402
from mixup_model.params import identity_params  # noqa: F401,E402

# What shares one draw of `prob`, `switch_prob` and the method (timm's
# `mode`): the batch, each pair of partners, or each example.
MODES = ("batch", "pair", "elem")


def validate_mode(mode, lambda_mode="per_sample"):
    """Returns `mode`, or raises a ValueError naming the choices (or the
    conflict with a per-batch lambda)."""
    check_choice("mode", mode, MODES)
    if mode != "batch" and lambda_mode == "per_batch":
        raise ValueError(
            f"`mode`={mode!r} draws a lambda per example (or pair), which "
            "contradicts `lambda_mode`='per_batch'. Use mode='batch' or "
            f"lambda_mode='per_sample'. Received: mode={mode!r}, "
            f"lambda_mode={lambda_mode!r}"
        )
    return mode


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


def draw_partners_and_gates(batch_size, seed, mode):
    """What every recipe draws first from the step's seed.

    Returns:
        `(lam_seed, perm, leader, mix_draw, method_draw)`: the seed of
        mixup's lambdas; the partners; with `mode="pair"` each example's
        pair leader (else None); and two uniforms for the batch (`"batch"`)
        or per example: whether it is mixed (against `prob`) and which
        method it uses.
    """
    lam_seed, perm_seed = backend.split(seed, 2)
    leader = None
    if mode == "pair":
        perm, leader = pair_partners(batch_size, perm_seed)
    else:
        perm = sample_permutation(batch_size, perm_seed)
    # One gate and switch draw for the batch, or one per example.
    gate_shape = () if mode == "batch" else batch_shape(batch_size)
    mix_draw, method_draw = ops.unstack(
        backend.uniform((2,) + gate_shape, backend.fold_in(seed, 2)), axis=0
    )
    return lam_seed, perm, leader, mix_draw, method_draw


def sample_batch_params(
    batch_size,
    seed,
    *,
    alpha,
    cutmix_alpha=0.0,
    prob=1.0,
    switch_prob=0.5,
    lambda_mode="per_sample",
    image_size=None,
    sequence_length=None,
    mixup=True,
    cutmix=False,
    cutmix_minmax=None,
    correct_lam=True,
    mode="batch",
):
    """Draws a batch's `MixParams` with timm's semantics for the rates.

    With `mode="batch"` the batch is mixed with probability `prob`, and when
    both methods are on, it is a CutMix batch with probability
    `switch_prob`, else a mixup batch. With `mode="elem"` each example makes
    these choices for itself (and draws its own lambda); with `mode="pair"`
    each pair of examples does, and the two examples of a pair are each
    other's partners with the same lambda (and box), so their mixes are
    complementary, as timm's `mode="pair"`. A method whose concentration is
    0 is off. An unmixed example gets lam = 1 and an empty box, which leave
    its inputs and targets exactly unchanged.

    Args:
        batch_size: Number of examples, a Python int or scalar int tensor.
        seed: A stateless seed of shape `(2,)`.
        alpha, cutmix_alpha, prob, switch_prob: Rates, Python floats or
            float32 scalar tensors (read from variables by `MixupModel`).
        lambda_mode: `"per_sample"` or `"per_batch"` lambda.
        image_size: `(height, width)` of the images: CutMix pastes boxes.
        sequence_length: `T` of the sequences, in place of `image_size`:
            CutMix pastes segments along time (`mixup_model.methods.cutmix.sample_segments`).
        mixup, cutmix: Which methods the step contains (static: they decide
            what is traced). With `mixup` alone and `prob = 1` the draw is
            exactly `sample_mix_params(batch_size, alpha, seed)`'s.
        cutmix_minmax: `None`, or the `(low, high)` range of CutMix box
            sides (segment lengths) as fractions of the image's (sequence's),
            drawn uniformly in place of a box from `cutmix_alpha`.
        correct_lam: CutMix's label weight is the pasted area (`True`), or
            the drawn lambda even where the box was clipped (`False`).
        mode: `"batch"`, `"pair"` or `"elem"`: what shares one draw of
            `prob`, `switch_prob` and the method.

    Returns:
        A `MixParams`; `cutmix` is a bool tensor of shape `(batch,)` when
        the method is chosen per example (`"pair"` and `"elem"` with both
        methods on).

    Raises:
        ValueError: neither `mixup` nor `cutmix` is on, `cutmix` is on
            without `image_size` or `sequence_length`, `mode` or
            `lambda_mode` is unknown, or `lambda_mode="per_batch"` is
            combined with a per-example `mode`.

    Example:

    >>> params = sample_batch_params(8, [0, 1], alpha=0.2, cutmix_alpha=1.0,
    ...                              image_size=(32, 32), cutmix=True)
    >>> tuple(params.box.shape)  # [top, bottom, left, right) per example
    (8, 4)
    >>> params = sample_batch_params(6, [0, 1], alpha=1.0, mode="pair")
    >>> perm = ops.convert_to_numpy(params.perm)
    >>> bool((perm[perm] == np.arange(6)).all())  # partners in pairs
    True
    """
    if not (mixup or cutmix):
        raise ValueError(
            "sample_batch_params needs `mixup` or `cutmix` on. Received: "
            f"mixup={mixup!r}, cutmix={cutmix!r}"
        )
    mode = validate_mode(mode, lambda_mode)
    seed = backend.as_seed(seed)
    alpha = ops.cast(alpha, "float32")
    cutmix_alpha = ops.cast(cutmix_alpha, "float32")
    lam_seed, perm, leader, mix_draw, switch_draw = draw_partners_and_gates(
        batch_size, seed, mode
    )
    on = ops.convert_to_tensor(False)
    if mixup:
        lam = mixup_method.draw(batch_size, alpha, lam_seed, lambda_mode)
        on = ops.logical_or(on, alpha > 0.0)
    region = use_cutmix = None
    if cutmix:
        if image_size is None and sequence_length is None:
            raise ValueError(
                "CutMix needs the `image_size` (or `sequence_length`) of the "
                "batch. Received: image_size=None, sequence_length=None"
            )
        sizes = image_size if image_size is not None else (sequence_length,)
        region, cut_lam = cutmix_method.draw(
            batch_size, cutmix_alpha, backend.fold_in(seed, 1), sizes,
            lambda_mode, cutmix_minmax, correct_lam,
        )
        cutmix_on = cutmix_alpha > 0.0
        if mixup:
            use_cutmix = ops.logical_and(
                cutmix_on,
                ops.logical_or(
                    ops.logical_not(alpha > 0.0), switch_draw < switch_prob
                ),
            )
            lam = ops.where(use_cutmix, cut_lam, lam)
        else:
            use_cutmix = True  # static: no conditional in the step
            lam = cut_lam
        on = ops.logical_or(on, cutmix_on)
    apply = ops.logical_and(on, mix_draw < prob)
    lam = ops.where(apply, lam, ops.ones_like(lam))
    if region is not None:
        keep = ops.logical_and(apply, use_cutmix)
        if mode != "batch":
            keep = ops.expand_dims(keep, 1)
        region = ops.where(keep, region, ops.zeros_like(region))
    if mode == "pair":
        # Each pair takes its leader's draws: one lambda, method and box.
        lam = take_partners(lam, leader)
        if region is not None:
            region = take_partners(region, leader)
        if not isinstance(use_cutmix, (bool, type(None))):
            use_cutmix = take_partners(use_cutmix, leader)
    if image_size is None:
        return MixParams(lam=lam, perm=perm, segment=region, cutmix=use_cutmix)
    return MixParams(lam=lam, perm=perm, box=region, cutmix=use_cutmix)


