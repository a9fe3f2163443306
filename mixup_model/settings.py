"""`MixupModel`'s settings: the rates a schedule moves, and the checks of the
constructor's arguments that no single method owns."""

import numbers
import typing

import numpy as np

from mixup_model.arguments import argument_error
from mixup_model.arguments import check_concentration
from mixup_model.arguments import check_probability

class Rates(typing.NamedTuple):
    """The rates a step reads, by name (one variable holds them in order;
    ResizeMix's and FMix's come last, so that a model saved before they
    existed loads its four)."""

    alpha: typing.Any
    cutmix_alpha: typing.Any
    prob: typing.Any
    switch_prob: typing.Any
    resizemix_alpha: typing.Any
    fmix_alpha: typing.Any


RATE_NAMES = Rates._fields


def validate_rate(name, value):
    """Returns rate `name` as a float in its range, or raises."""
    if name.endswith("alpha"):
        return check_concentration(name, value)
    return check_probability(name, value)


def validate_mixed_inputs(mixed_inputs):
    """Returns `mixed_inputs` as a tuple of names or positions (or None),
    or raises."""
    if mixed_inputs is None:
        return None
    valid = isinstance(mixed_inputs, (list, tuple)) and all(
        isinstance(k, str)
        or (isinstance(k, numbers.Integral) and not isinstance(k, bool))
        for k in mixed_inputs
    )
    if not valid:
        raise argument_error(
            "mixed_inputs",
            "None (the dtype rule) or a list of input names (dict inputs) or "
            "positions (list inputs, or [0] for a single input)",
            mixed_inputs,
        )
    return tuple(mixed_inputs)


def validate_seed(seed):
    """Returns `seed` as an int (or None), or raises."""
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
    ):
        raise argument_error("seed", "None or an int", seed)
    return None if seed is None else int(seed)


def decimal(value):
    """A float32 as the shortest decimal that rounds to it (0.2, not
    0.20000000298...), so that rates read back as they were set."""
    return float(str(np.float32(value)))




def check_combinations(
    rates, *, mix_layer, mixed_inputs, cutmix_minmax, regmixup_eta,
    transmix_layer, alpha, cutmix_alpha,
):
    """Raises a ValueError for settings that contradict each other (each
    valid alone): a method's option without the method, or manifold mixup
    with CutMix, ResizeMix, FMix or `mixed_inputs`.

    Args:
        rates: The validated rates, in `RATE_NAMES` order.
        mix_layer, mixed_inputs, cutmix_minmax, regmixup_eta,
            transmix_layer: The validated settings.
        alpha, cutmix_alpha: The rates as received, for the messages.
    """
    rates = Rates(*rates)
    # The methods that paste regions of an input.
    regions_on = [
        name for name in ("cutmix_alpha", "resizemix_alpha", "fmix_alpha")
        if getattr(rates, name) > 0
    ]
    if transmix_layer is not None and rates.cutmix_alpha == 0:
        raise ValueError(
            "`transmix_layer` reweighs CutMix's labels by attention, so it "
            "needs CutMix on: `cutmix_alpha` > 0. Received: "
            f"transmix_layer={transmix_layer!r}, cutmix_alpha={cutmix_alpha!r}"
        )
    if regmixup_eta > 0 and rates.alpha == 0 and not regions_on:
        raise ValueError(
            "`regmixup_eta` weighs the loss of the mixed copy of each "
            "batch, so it needs a method on: `alpha`, `cutmix_alpha`, "
            "`resizemix_alpha` or `fmix_alpha` > 0. Received: "
            f"regmixup_eta={regmixup_eta!r}, alpha={alpha!r}, "
            f"cutmix_alpha={cutmix_alpha!r}"
        )
    if cutmix_minmax is not None and rates.cutmix_alpha == 0:
        raise ValueError(
            "`cutmix_minmax` draws CutMix boxes, so it needs CutMix on: "
            "`cutmix_alpha` > 0 (with `cutmix_minmax` it only switches "
            f"CutMix on). Received: cutmix_alpha={cutmix_alpha!r}, "
            f"cutmix_minmax={cutmix_minmax!r}"
        )
    if mix_layer is not None and regions_on:
        raise ValueError(
            f"`{regions_on[0]}` must be 0 with `mix_layer`: CutMix, ResizeMix "
            "and FMix paste regions of input images (sequences), manifold "
            "mixup blends activations. Received: "
            f"mix_layer={mix_layer!r}, {regions_on[0]}={getattr(rates, regions_on[0])!r}"
        )
    if mix_layer is not None and mixed_inputs is not None:
        raise ValueError(
            "`mixed_inputs` must be None with `mix_layer`: manifold "
            "mixup leaves the inputs clean and mixes the layer's outputs."
        )
