"""A recipe of several batch methods, each chosen with its own probability.

mmpretrain's `RandomBatchAugment(augments, probs)` picks one method per
batch from a list. Here the choice is made per batch, per pair or per
example (timm's `mode`), among mixup, CutMix, ResizeMix and FMix
(`METHODS`), with `method_probs`; `prob` gates the whole batch (pair,
example) as in the two-method recipe of `mixup_model.sampling`, which this
generalises: `method_probs={"mixup": 1 - p, "cutmix": p}` has the law of
`switch_prob=p` (from other random streams).

Every method with a probability above 0 is drawn at each step, from its own
seed folded into the step's, and each example keeps its chosen method's
draw: the other methods' boxes are emptied and their masks filled with 1,
so applying them all in turn (`apply`) changes each example by its own
method alone, with static shapes and no conditional. A method whose rate a
schedule sets to 0 is skipped, the others' probabilities renormalised.
"""

import typing

import keras
from keras import ops

from mixup_model.arguments import argument_error
from mixup_model.arguments import check_probability
from mixup_model.backend import current as backend
from mixup_model.draws import batch_shape
from mixup_model.methods import BATCH_METHODS
from mixup_model.methods import METHOD_KEYS
from mixup_model.methods import cutmix
from mixup_model.methods import fmix
from mixup_model.methods import mixup
from mixup_model.methods import resizemix
from mixup_model.params import MixParams
from mixup_model.sampling import draw_partners_and_gates
from mixup_model.sampling import validate_mode
from mixup_model.shards import take_partners
from mixup_model.tensors import fit_rank
from mixup_model.tensors import same_dims

# The methods, by their key in `method_probs`; `MixParams.method` holds the
# index of each example's method in this tuple.
METHODS = METHOD_KEYS
MIXUP, CUTMIX, RESIZEMIX, FMIX = (METHODS.index(k) for k in ("mixup", "cutmix", "resizemix", "fmix"))

# The number folded into the step's seed for each method's draw. mixup's
# lambdas take the first seed of the step's split and CutMix's regions 1,
# as in the two-method recipe; 2 is the gates'.
_SEED_OF = {CUTMIX: 1, RESIZEMIX: 3, FMIX: 4}

# How far from 1 the probabilities may add up (decimal fractions do not add
# up exactly in binary).
_SUM_TOLERANCE = 1e-6


class MethodOptions(typing.NamedTuple):
    """The methods' static settings, as `MixupModel` takes them.

    Attributes:
        cutmix_minmax, correct_lam: CutMix's (see `sample_batch_params`).
        resizemix_range: ResizeMix's `(lam_min, lam_max)`, the range its
            Beta draw is scaled into.
        fmix_decay_power, fmix_max_soft: FMix's decay power and soft edge.
    """

    cutmix_minmax: typing.Any = None
    correct_lam: bool = True
    resizemix_range: tuple = (0.1, 0.8)
    fmix_decay_power: float = 3.0
    fmix_max_soft: float = 0.0


def recipe_probs(method_probs, rates, switch_prob=0.5):
    """The probability of each method (in `METHODS` order), or None for the
    two-method recipe of mixup and CutMix (`switch_prob`).

    Args:
        method_probs: `None`, or a dict from method keys (`METHODS`) to
            probabilities adding up to 1, one for each method that is on.
            `None` gives every method that is on the same probability
            when ResizeMix or FMix is on, and leaves mixup and CutMix alone
            to `switch_prob`.
        rates: Each method's concentration (dict by key), as constructed: a
            method is on when its rate is above 0.
        switch_prob: The two-method recipe's switch, which `method_probs`
            replaces.

    Returns:
        A tuple of floats in `METHODS` order (0 for the methods that are
        off), or None.

    Raises:
        ValueError: `method_probs` is not such a dict (each message names
            the entry), or is combined with a `switch_prob` other than 0.5.

    Example:

    >>> recipe_probs(None, {"mixup": 0.2, "cutmix": 1.0, "resizemix": 0.0, "fmix": 1.0})
    (0.3333333333333333, 0.3333333333333333, 0.0, 0.3333333333333333)
    >>> recipe_probs(None, {"mixup": 0.2, "cutmix": 1.0, "resizemix": 0.0, "fmix": 0.0}) is None
    True
    """
    on = [key for key in METHODS if rates[key] > 0]
    several = any(rates[key] > 0 for key in METHODS if key not in ("mixup", "cutmix"))
    if method_probs is None:
        if not several:
            return None
        if switch_prob != 0.5:
            raise ValueError(
                "`switch_prob` chooses between mixup and CutMix alone; with "
                "ResizeMix or FMix on, give each method's probability in "
                f"`method_probs`. Received: switch_prob={switch_prob!r}, "
                f"methods on: {on}"
            )
        return tuple(1.0 / len(on) if key in on else 0.0 for key in METHODS)
    if switch_prob != 0.5:
        raise ValueError(
            "`method_probs` replaces `switch_prob`; give one of them. Received: "
            f"method_probs={method_probs!r}, switch_prob={switch_prob!r}"
        )
    if not isinstance(method_probs, dict) or not method_probs:
        raise argument_error(
            "method_probs",
            f"None or a non-empty dict from method names {METHODS} to probabilities",
            method_probs,
        )
    unknown = [key for key in method_probs if key not in METHODS]
    if unknown:
        raise argument_error(
            "method_probs",
            f"a dict whose keys are among {METHODS}, without {unknown}",
            method_probs,
        )
    probs = {
        key: check_probability(f"method_probs[{key!r}]", value)
        for key, value in method_probs.items()
    }
    for key in probs:
        if rates[key] == 0:
            method = BATCH_METHODS[METHODS.index(key)]
            raise ValueError(
                f"`method_probs` gives {key} a probability, but {key} is off: "
                f"`{method.RATE}` is 0. Set `{method.RATE}` > 0, or leave {key} "
                f"out. Received: method_probs={method_probs!r}"
            )
    never = [key for key in on if probs.get(key) == 0.0]
    if never:
        rate = BATCH_METHODS[METHODS.index(never[0])].RATE
        raise ValueError(
            f"`method_probs` gives {never[0]} probability 0, but {never[0]} is "
            f"on ({rate}={rates[never[0]]!r}): its step would carry a method it "
            f"never uses. Set `{rate}` to 0 instead. Received: "
            f"method_probs={method_probs!r}"
        )
    missing = [key for key in on if key not in probs]
    if missing:
        rates_on = ", ".join(
            f"{BATCH_METHODS[METHODS.index(k)].RATE}={rates[k]!r}" for k in missing
        )
        raise ValueError(
            f"`method_probs` must give every method that is on a probability; "
            f"it lacks {missing} ({rates_on}). Give them one, or set their "
            f"rates to 0. Received: method_probs={method_probs!r}"
        )
    total = sum(probs.values())
    if abs(total - 1.0) > _SUM_TOLERANCE:
        raise ValueError(
            "`method_probs` must add up to 1 (`prob` decides whether a batch is "
            f"mixed at all). Received: method_probs={method_probs!r}, which "
            f"adds up to {total!r}"
        )
    return tuple(probs.get(key, 0.0) for key in METHODS)


def _chosen_position(choice_draw, weights):
    """The position of the chosen method among `weights` (each method's
    probability, 0 while it is off): where the uniform draw falls among
    their cumulative sums; never a method of weight 0."""
    total = sum(weights)
    drawn = choice_draw * total
    position = ops.zeros_like(drawn, "int32")
    cumulative = 0.0
    for weight in weights[:-1]:
        cumulative = cumulative + weight
        position = position + ops.cast(drawn >= cumulative, "int32")
    # Rounding may carry a draw past the last method that is on.
    last_on = ops.max(ops.stack([
        ops.where(weight > 0, index, 0) for index, weight in enumerate(weights)
    ]))
    return ops.minimum(position, ops.cast(last_on, "int32")), total


def sample_recipe_params(
    batch_size,
    seed,
    *,
    rates,
    probs,
    prob=1.0,
    lambda_mode="per_sample",
    mode="batch",
    cut_sizes=None,
    mask_shape=None,
    options=MethodOptions(),
):
    """Draws a batch's `MixParams` for a recipe of several methods.

    Args:
        batch_size: Number of examples, a Python int or scalar int tensor.
        seed: A stateless seed of shape `(2,)`.
        rates: Each method's concentration, in `METHODS` order: Python
            floats or float32 scalar tensors (a schedule may move them; at
            0 a method is skipped).
        probs: Each method's probability, in `METHODS` order (static
            floats, as `recipe_probs` returns them); a method of
            probability 0 is not drawn at all.
        prob: The probability that a batch (pair, example) is mixed.
        lambda_mode: `"per_sample"` or `"per_batch"`.
        mode: `"batch"`, `"pair"` or `"elem"`: what shares one draw of
            `prob` and of the method.
        cut_sizes: `(height, width)` of the images (or `(steps,)` of the
            sequences) that CutMix and ResizeMix cut; needed by them.
        mask_shape: The static shape of FMix's masks (`(T,)`, `(H, W)` or
            `(T, H, W)`); needed by FMix.
        options: The methods' `MethodOptions`.

    Returns:
        A `MixParams` with `method` (int32 `(batch,)`), `lam`, `perm`, and
        the region of each method drawn: `box` (or `segment`) with `cutmix`
        for CutMix, `resize_box` for ResizeMix, `mask` for FMix.

    Raises:
        ValueError: No method has a probability, a method lacks the sizes
            it cuts, or `mode` or `lambda_mode` is unknown.

    Example:

    >>> params = sample_recipe_params(
    ...     8, [0, 1], rates=(0.2, 1.0, 0.0, 1.0), probs=(0.5, 0.25, 0.0, 0.25),
    ...     mode="elem", cut_sizes=(16, 16), mask_shape=(16, 16))
    >>> tuple(params.mask.shape), tuple(params.box.shape)
    ((8, 16, 16), (8, 4))
    >>> set(ops.convert_to_numpy(params.method).tolist()) <= {MIXUP, CUTMIX, FMIX}
    True
    """
    mode = validate_mode(mode, lambda_mode)
    drawn = [index for index, p in enumerate(probs) if p > 0]
    if not drawn:
        raise ValueError(f"A recipe needs a method with a probability > 0. Received: probs={probs!r}")
    if CUTMIX in drawn and cut_sizes is None:
        raise ValueError("CutMix needs the sizes it cuts (`cut_sizes`). Received: cut_sizes=None")
    if RESIZEMIX in drawn and (
        cut_sizes is None or len(cut_sizes) != 2
        or not all(isinstance(size, int) for size in cut_sizes)
    ):
        raise ValueError(
            "ResizeMix pastes into images or videos and needs their static "
            f"`(height, width)`. Received: cut_sizes={cut_sizes!r}"
        )
    if FMIX in drawn and (mask_shape is None or None in tuple(mask_shape)):
        raise ValueError(
            "FMix needs the static shape of its masks (the steps, or the "
            f"height and width, or the frames, height and width). Received: "
            f"mask_shape={mask_shape!r}"
        )
    seed = backend.as_seed(seed)
    rates = [ops.cast(rate, "float32") for rate in rates]
    lam_seed, perm, leader, mix_draw, choice_draw = draw_partners_and_gates(
        batch_size, seed, mode
    )
    weights = [probs[i] * ops.cast(rates[i] > 0.0, "float32") for i in drawn]
    position, total = _chosen_position(choice_draw, weights)
    method = ops.take(ops.convert_to_tensor(drawn, "int32"), position)
    apply = ops.logical_and(total > 0.0, mix_draw < prob)
    shape = batch_shape(batch_size)
    method = ops.broadcast_to(method, shape)
    apply = ops.broadcast_to(apply, shape)

    own = {}
    fields = {}
    if MIXUP in drawn:
        own[MIXUP] = mixup.draw(batch_size, rates[MIXUP], lam_seed, lambda_mode)
    if CUTMIX in drawn:
        region, own[CUTMIX] = cutmix.draw(
            batch_size, rates[CUTMIX], backend.fold_in(seed, _SEED_OF[CUTMIX]),
            tuple(cut_sizes), lambda_mode, options.cutmix_minmax, options.correct_lam,
        )
        fields["box" if len(cut_sizes) == 2 else "segment"] = (CUTMIX, region, 0)
    if RESIZEMIX in drawn:
        lam_min, lam_max = options.resizemix_range
        box, own[RESIZEMIX] = resizemix.draw(
            batch_size, rates[RESIZEMIX], backend.fold_in(seed, _SEED_OF[RESIZEMIX]),
            tuple(cut_sizes), lam_min, lam_max, lambda_mode,
        )
        fields["resize_box"] = (RESIZEMIX, box, 0)
    if FMIX in drawn:
        mask, own[FMIX] = fmix.draw(
            batch_size, rates[FMIX], backend.fold_in(seed, _SEED_OF[FMIX]),
            tuple(mask_shape), options.fmix_decay_power, options.fmix_max_soft, lambda_mode,
        )
        fields["mask"] = (FMIX, mask, 1)

    lam = ops.ones(shape, "float32")
    for index, weight in own.items():
        lam = ops.where(method == index, weight, lam)
    lam = ops.where(apply, lam, 1.0)
    regions = {}
    for name, (index, region, empty) in fields.items():
        keep = fit_rank(ops.logical_and(apply, method == index), len(region.shape))
        regions[name] = ops.where(keep, region, ops.cast(empty, region.dtype))
    if mode == "pair":
        # Each pair takes its leader's draws: one lambda, method and region.
        lam, method = take_partners(lam, leader), take_partners(method, leader)
        regions = {name: take_partners(r, leader) for name, r in regions.items()}
    use_cutmix = method == CUTMIX if CUTMIX in drawn else None
    return MixParams(lam=lam, perm=perm, method=method, cutmix=use_cutmix, **regions)


def applicable_methods(x, params, data_format=None):
    """The methods of `params` that change the tensor `x` by a region:
    CutMix on images, videos (boxes) and sequences (segments), ResizeMix on
    images and videos, FMix where `x`'s axes are its mask's. On `x` the
    examples of the other methods are blended with their own weights."""
    methods = []
    if cutmix.cut_of(x, params) is not None:
        methods.append(CUTMIX)
    if params.resize_box is not None and len(x.shape) in cutmix.BOX_RANKS:
        methods.append(RESIZEMIX)
    if params.mask is not None and same_dims(
        fmix.mask_shape_of(x, data_format), tuple(params.mask.shape)[1:]
    ):
        methods.append(FMIX)
    return methods


def apply(x, params, data_format=None):
    """Mixes one tensor by each example's method (`params.method`).

    Args:
        x: A tensor whose first axis is the batch.
        params: `MixParams` from `sample_recipe_params`.
        data_format: `"channels_last"` or `"channels_first"`.

    Returns:
        The mixed tensor, `x`'s shape.
    """
    methods = applicable_methods(x, params, data_format)
    pastes = ops.zeros_like(params.method, "bool")
    for index in methods:
        pastes = ops.logical_or(pastes, params.method == index)
    # Every example blends; those whose method pastes a region keep their
    # own values here (lam = 1, exact), and the regions follow.
    mixed = mixup.blend(x, params._replace(lam=ops.where(pastes, 1.0, params.lam)))
    if CUTMIX in methods:
        mixed = cutmix.paste(x, params, data_format, into=mixed)
    if RESIZEMIX in methods:
        mixed = resizemix.paste_resized(x, params, data_format, into=mixed, box=params.resize_box)
    if FMIX in methods:
        channels_last = (data_format or keras.config.image_data_format()) == "channels_last"
        mixed = fmix.apply_masks(x, params.mask, params.perm, channels_last, into=mixed)
    return mixed


def own_weights(y_pred, params, cut_dims=None):
    """Each example's weight of its own target per cell of an output, or
    None where the examples are weighed whole (by `params.lam`).

    An output per pixel (step) of the cut input, `cut_dims`, takes the maps
    of CutMix's and ResizeMix's boxes (0 inside, 1 outside); one per cell of
    FMix's mask takes the mask; every other example its lambda.
    """
    between = tuple(y_pred.shape)[1:-1]
    maps = {}
    if cut_dims is not None and same_dims(between, tuple(cut_dims)):
        sizes = tuple(ops.shape(y_pred)[1 : 1 + len(cut_dims)])
        if params.box is not None or params.segment is not None:
            maps[CUTMIX] = 1.0 - ops.cast(cutmix.cut_mask(params, sizes), "float32")
        if params.resize_box is not None and len(sizes) == 2:
            resized = params._replace(box=params.resize_box, segment=None)
            maps[RESIZEMIX] = 1.0 - ops.cast(cutmix.cut_mask(resized, sizes), "float32")
    if params.mask is not None and same_dims(between, tuple(params.mask.shape)[1:]):
        maps[FMIX] = ops.cast(params.mask, "float32")
    if not maps:
        return None
    rank = len(between) + 1
    weights = ops.broadcast_to(
        fit_rank(ops.convert_to_tensor(params.lam, "float32"), rank),
        ops.shape(next(iter(maps.values()))),
    )
    method = fit_rank(params.method, rank)
    for index, cell_map in maps.items():
        weights = ops.where(method == index, cell_map, weights)
    return weights
