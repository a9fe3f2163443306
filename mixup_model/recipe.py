"""Recipes: `OneOf`, one method per batch, pair or example, from a list.

`OneOf([Mixup(0.8), CutMix(1.0)], probs=[0.5, 0.5])` is mmpretrain's
`RandomBatchAugment(augments, probs)` and torchvision's `RandomChoice`,
with timm's `prob` (is a batch mixed at all), `switch_prob` (its rule for
two methods) and `mode` (does one draw decide for the batch, each pair of
partners, or each example). It draws a batch's `MixParams` from the step's
stateless seed and the current rates, inside every backend's compiled
step; `mixup_model.mixing` and `mixup_model.targets` apply them.

Every method draws from its own seed (`BatchMethod.seed_fold`), the same in
a recipe as alone. Per example or pair, each method is drawn for the whole
batch and each example keeps its chosen method's draw: the others' regions
are emptied, so that applying them all in turn changes each example by its
own method alone, with static shapes. Per batch, where the backend keeps a
conditional in its compiled graph (TensorFlow, JAX), only the chosen method
is drawn and applied (`ops.switch`); PyTorch draws them all (eagerly, in
blocks of future steps, `mixup_model.backend.draw_ahead`), and applies only
the chosen one when eager. A method whose rate a schedule sets to 0 is
paused: the others' probabilities are renormalised.
"""

import keras
from keras import ops

from mixup_model.arguments import argument_error
from mixup_model.arguments import check_probability
from mixup_model.backend import current as backend
from mixup_model.draws import batch_shape
from mixup_model.draws import pair_partners
from mixup_model.draws import sample_permutation
from mixup_model.draws import validate_lambda_mode
from mixup_model.methods.base import BatchMethod
from mixup_model.params import MixParams
from mixup_model.shards import take_partners
from mixup_model.arguments import check_choice

# What shares one draw of `prob` and the method (timm's `mode`): the batch,
# each pair of partners, or each example.
MODES = ("batch", "pair", "elem")

# The number folded into the step's seed for the gates (`prob`, the method).
_GATES_SEED = 2

# How far from 1 the probabilities may add up (decimal fractions do not add
# up exactly in binary).
_SUM_TOLERANCE = 1e-6


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
    gate_shape = () if mode == "batch" else batch_shape(batch_size)
    mix_draw, method_draw = ops.unstack(
        backend.uniform((2,) + gate_shape, backend.fold_in(seed, _GATES_SEED)), axis=0
    )
    return lam_seed, perm, leader, mix_draw, method_draw


def _chosen_position(choice_draw, weights):
    """The position of the chosen method among `weights` (each method's
    probability, 0 while it is paused): where the uniform draw falls among
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
    return ops.minimum(position, ops.cast(last_on, "int32")), total > 0.0


def _without_nones(regions):
    """`(positions, values)` of the regions that are not None (a compiled
    conditional returns tensors only)."""
    kept = [(i, r) for i, r in enumerate(regions) if r is not None]
    return [i for i, _ in kept], tuple(r for _, r in kept)


@keras.saving.register_keras_serializable(package="mixup_model")
class OneOf:
    """One of several batch methods for each batch, pair or example.

    Args:
        methods: A list of `BatchMethod`s (`Mixup`, `CutMix`, `ResizeMix`,
            `FMix`), each at most once.
        probs: Each method's probability, adding up to 1; default: equal.
            The choice is where a uniform draw falls among their cumulative
            sums (mmpretrain's `np.random.choice(augments, p=probs)`).
        switch_prob: timm's rule for two methods, in place of `probs`: the
            second with probability `switch_prob`, else the first. A rate:
            schedulable.
        prob: The probability that a batch (pair, example) is mixed at all;
            a rate. An unmixed example keeps lam = 1 and an empty region.
        mode: `"batch"` (default), `"pair"` or `"elem"`: what one draw of
            `prob` and of the method decides for (timm's `mode`). With
            `"pair"` the two examples of a pair are each other's partners
            with one lambda and region, so their mixes are complementary.
        lambda_mode: `"per_sample"` (default) or `"per_batch"`: one lambda
            per example or for the whole batch (the latter with
            `mode="batch"` only).

    Example:

    >>> from mixup_model.methods import CutMix, Mixup
    >>> OneOf([Mixup(0.8), CutMix(1.0)], switch_prob=0.5, mode="elem").rates
    {'prob': 1.0, 'switch_prob': 0.5, 'mixup.alpha': 0.8, 'cutmix.alpha': 1.0}
    """

    def __init__(self, methods, probs=None, switch_prob=None, prob=1.0, mode="batch",
                 lambda_mode="per_sample"):
        if isinstance(methods, BatchMethod):
            methods = [methods]
        if (
            not isinstance(methods, (list, tuple)) or not methods
            or not all(isinstance(m, BatchMethod) for m in methods)
        ):
            raise argument_error(
                "methods", "a non-empty list of batch methods (Mixup, CutMix, ResizeMix, FMix)",
                methods,
            )
        keys = [m.key for m in methods]
        if len(set(keys)) != len(keys):
            raise ValueError(
                f"`methods` may hold each method once; a recipe draws each from "
                f"its own stream. Received: methods={list(methods)!r}"
            )
        self.methods = tuple(methods)
        self.lambda_mode = validate_lambda_mode(lambda_mode)
        self.mode = validate_mode(mode, self.lambda_mode)
        self.prob = check_probability("prob", prob)
        if switch_prob is not None:
            if probs is not None:
                raise ValueError(
                    "`switch_prob` is the rule for two methods, `probs` the rule for "
                    f"any number; give one of them. Received: probs={probs!r}, "
                    f"switch_prob={switch_prob!r}"
                )
            if len(self.methods) != 2:
                raise ValueError(
                    "`switch_prob` chooses between two methods (the second with "
                    "this probability). Received: switch_prob="
                    f"{switch_prob!r} with {len(self.methods)} methods"
                )
            switch_prob = check_probability("switch_prob", switch_prob)
        self.switch_prob = switch_prob
        self.probs = self._validated_probs(probs) if switch_prob is None else None

    def _validated_probs(self, probs):
        if probs is None:
            return tuple(1.0 / len(self.methods) for _ in self.methods)
        if not isinstance(probs, (list, tuple)) or len(probs) != len(self.methods):
            raise argument_error(
                "probs", f"a list of {len(self.methods)} probabilities, one per method", probs
            )
        probs = tuple(check_probability("probs", p) for p in probs)
        if 0.0 in probs:
            method = self.methods[probs.index(0.0)]
            raise ValueError(
                f"`probs` gives {method.caption} probability 0: its step would carry "
                f"a method it never uses. Leave it out. Received: probs={probs!r}"
            )
        total = sum(probs)
        if abs(total - 1.0) > _SUM_TOLERANCE:
            raise ValueError(
                "`probs` must add up to 1 (`prob` decides whether a batch is mixed "
                f"at all). Received: probs={probs!r}, which adds up to {total!r}"
            )
        return probs

    # -- What a model needs to know -------------------------------------------

    @property
    def rates(self):
        """`{name: initial value}`: the recipe's (`prob`, `switch_prob`)
        and each method's, qualified by its key (`"cutmix.alpha"`)."""
        rates = {"prob": self.prob}
        if self.switch_prob is not None:
            rates["switch_prob"] = self.switch_prob
        for method in self.methods:
            rates.update({f"{method.key}.{n}": v for n, v in method.rates.items()})
        return rates

    @property
    def pastes(self):
        """The methods that paste regions of an input."""
        return [m for m in self.methods if m.pastes]

    def check_input(self, cut_input, shapes):
        for method in self.methods:
            method.check_input(cut_input, shapes)

    def get_config(self):
        return {
            "methods": [keras.saving.serialize_keras_object(m) for m in self.methods],
            "probs": None if self.probs is None else list(self.probs),
            "switch_prob": self.switch_prob,
            "prob": self.prob,
            "mode": self.mode,
            "lambda_mode": self.lambda_mode,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["methods"] = [keras.saving.deserialize_keras_object(m) for m in config["methods"]]
        return cls(**config)

    def __repr__(self):
        options = [repr(list(self.methods))]
        defaults = {"probs": None, "switch_prob": None, "prob": 1.0, "mode": "batch",
                    "lambda_mode": "per_sample"}
        equal = tuple(1.0 / len(self.methods) for _ in self.methods)
        for name, default in defaults.items():
            value = getattr(self, name)
            if value != default and not (name == "probs" and value == equal):
                options.append(f"{name}={list(value) if name == 'probs' else value!r}")
        return f"OneOf({', '.join(options)})"

    # -- The draw --------------------------------------------------------------

    def draw(self, batch_size, seed, rates, sizes=None):
        """Draws a batch's `MixParams`.

        Args:
            batch_size: Number of examples, an int or scalar int tensor.
            seed: The step's stateless seed, shape `(2,)`.
            rates: `{name: float32 scalar}` with every name of `self.rates`
                (the values a schedule set).
            sizes: The cut input's `mixup_model.sizes.InputSizes`, for
                methods that paste regions.

        Returns:
            A `MixParams`, `method` None for a recipe of one method.
        """
        seed = backend.as_seed(seed)
        lam_seed, perm, leader, mix_draw, choice_draw = draw_partners_and_gates(
            batch_size, seed, self.mode
        )
        method_rates = [
            {n: ops.cast(rates[f"{m.key}.{n}"], "float32") for n in m.rate_names}
            for m in self.methods
        ]
        on = [r[m.rate_names[0]] > 0.0 for m, r in zip(self.methods, method_rates)]
        position, any_on = self._choice(choice_draw, rates, on)
        # Per batch, in a compiled step: the chosen method alone.
        alone = (
            position is not None and self.mode == "batch"
            and backend.conditional_in_graph(position)
        )
        apply = ops.logical_and(any_on, mix_draw < ops.cast(rates["prob"], "float32"))

        def draw_method(index):
            method = self.methods[index]
            method_seed = (
                lam_seed if method.seed_fold is None else backend.fold_in(seed, method.seed_fold)
            )
            return method.draw(batch_size, method_rates[index], method_seed, sizes, self.lambda_mode)

        if position is None:  # one method
            lam, region = draw_method(0)
            regions = (region,)
        elif alone:
            lam, regions = self._draw_chosen(position, draw_method, batch_size, sizes)
        else:
            # (The first method's lambdas as the start under the switch, as
            # timm's two-method sampler of 0.1.0 selected them.)
            lam = None if self.switch_prob is not None else ops.ones(batch_shape(batch_size), "float32")
            regions = []
            for index in range(len(self.methods)):
                own, region = draw_method(index)
                lam = own if lam is None else ops.where(position == index, own, lam)
                regions.append(region)
        lam = ops.where(apply, lam, 1.0)
        if position is None or alone:
            keeps = [apply] * len(regions)  # the other methods' are empty already
        else:
            keeps = [ops.logical_and(apply, position == i) for i in range(len(regions))]
        regions = tuple(None if r is None else r.emptied(k) for r, k in zip(regions, keeps))
        method = position
        if self.mode == "pair":
            # Each pair takes its leader's draws: one lambda, method and region.
            lam = take_partners(lam, leader)
            method = None if method is None else take_partners(method, leader)
            regions = tuple(
                None if r is None else type(r)(*(take_partners(t, leader) for t in r))
                for r in regions
            )
        return MixParams(lam=lam, perm=perm, method=method, regions=regions)

    def _choice(self, choice_draw, rates, on):
        """`(position, any_on)`: the chosen method's position (None for one
        method) and whether any method is on."""
        if len(self.methods) == 1:
            return None, on[0]
        if self.switch_prob is not None:
            # timm's switch: the second method with probability `switch_prob`
            # (always while the first is paused, never while it is).
            switch = ops.cast(rates["switch_prob"], "float32")
            second = ops.logical_and(
                on[1], ops.logical_or(ops.logical_not(on[0]), choice_draw < switch)
            )
            return ops.cast(second, "int32"), ops.logical_or(on[0], on[1])
        weights = [p * ops.cast(o, "float32") for p, o in zip(self.probs, on)]
        return _chosen_position(choice_draw, weights)

    def _draw_chosen(self, position, draw_method, batch_size, sizes):
        """The chosen method's draw alone, in a compiled conditional; the
        other methods' regions are empty."""
        def branch(index):
            def run():
                lam, region = draw_method(index)
                regions = tuple(
                    region if i == index else m.empty_region(batch_size, sizes)
                    for i, m in enumerate(self.methods)
                )
                return lam, _without_nones(regions)[1]
            return run

        places, _ = _without_nones(
            tuple(m.empty_region(batch_size, sizes) for m in self.methods)
        )
        lam, kept = ops.switch(position, [branch(i) for i in range(len(self.methods))])
        regions = [None] * len(self.methods)
        for place, region in zip(places, kept):
            regions[place] = region
        return lam, tuple(regions)


def as_recipe(mix):
    """A `OneOf` for `mix` (a method alone is a recipe of one), or None."""
    if mix is None or isinstance(mix, OneOf):
        return mix
    if isinstance(mix, BatchMethod):
        return OneOf([mix])
    raise argument_error(
        "mix", "None, a batch method (Mixup, CutMix, ResizeMix, FMix) or a OneOf recipe", mix
    )
