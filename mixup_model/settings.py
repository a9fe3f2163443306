"""`MixupModel`'s settings that no method owns: the checks of its own
arguments, and of their combinations with the recipe."""

import numbers

from mixup_model import rates as rates_module
from mixup_model.arguments import argument_error
from mixup_model.arguments import check_open_fraction
from mixup_model.steps import manifold
from mixup_model.steps import regmixup
from mixup_model.steps import transmix
from mixup_model.targets import validate_label_smoothing

# `MixupModel`'s settings other than the mixing, in its constructor's order.
SETTING_NAMES = ("label_smoothing", "mix_layer", "mixed_inputs", "seed", "target_threshold",
                 "regmixup_eta", "transmix_layer")


def validated_settings(recipe, *, label_smoothing, mix_layer, mixed_inputs, seed,
                       target_threshold, regmixup_eta, transmix_layer):
    """`{name: value}` of the settings in `SETTING_NAMES`, each checked
    alone and with the recipe (`check_combinations`), or raises."""
    settings = dict(
        label_smoothing=validate_label_smoothing(label_smoothing),
        mix_layer=manifold.validate_mix_layer(mix_layer),
        mixed_inputs=validate_mixed_inputs(mixed_inputs),
        seed=validate_seed(seed),
        target_threshold=(
            None if target_threshold is None
            else check_open_fraction("target_threshold", target_threshold)
        ),
        regmixup_eta=regmixup.validate_regmixup_eta(regmixup_eta),
        transmix_layer=transmix.validate_transmix_layer(transmix_layer),
    )
    check_combinations(
        recipe, mix_layer=settings["mix_layer"], mixed_inputs=settings["mixed_inputs"],
        regmixup_eta=settings["regmixup_eta"],
    )
    if settings["transmix_layer"] is not None:
        transmix.check_recipe(recipe, settings["transmix_layer"])
    return settings


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


def check_combinations(recipe, *, mix_layer, mixed_inputs, regmixup_eta):
    """Raises a ValueError for model settings that contradict the recipe
    (each valid alone): RegMixup without a method, manifold mixup with a
    method that pastes regions of the inputs, or with `mixed_inputs`.

    Args:
        recipe: The model's `OneOf`, or None.
        mix_layer, mixed_inputs, regmixup_eta: The validated settings.
    """
    if regmixup_eta > 0 and recipe is None:
        rates = " or ".join(
            f"`{flat}`" for flat, name in rates_module.FLAT_NAMES.items()
            if name not in rates_module.RECIPE_RATES
        )
        raise ValueError(
            "`regmixup_eta` weighs the loss of the mixed copy of each "
            f"batch, so it needs a method on: {rates} > 0, or `mix`. Received: "
            f"regmixup_eta={regmixup_eta!r}"
        )
    pasting = [] if recipe is None else recipe.pastes
    if mix_layer is not None and pasting:
        method = pasting[0]
        flat = rates_module.display_name(f"{method.key}.{method.rate_names[0]}")
        raise ValueError(
            f"`{flat}` must be 0 with `mix_layer`: {method.caption} pastes regions "
            "of input images (sequences), manifold mixup blends activations. "
            f"Received: mix_layer={mix_layer!r}, {flat}={method.rates[method.rate_names[0]]!r}"
        )
    if mix_layer is not None and mixed_inputs is not None:
        raise ValueError(
            "`mixed_inputs` must be None with `mix_layer`: manifold "
            "mixup leaves the inputs clean and mixes the layer's outputs."
        )
