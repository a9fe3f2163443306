"""`MixupModel`'s flat keyword arguments, timm's vocabulary, as objects.

`MixupModel(model, alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5)` builds
`OneOf([Mixup(0.8), CutMix(1.0)], switch_prob=0.5)`, with the same streams,
bit for bit. Each method's flat arguments are its own
(`BatchMethod.flat_arguments`): a method is in the step when its flat rate
is above 0. With mixup and CutMix alone, `switch_prob` chooses between them
(timm's rule); with other methods, or `method_probs`, each method has its
probability (mmpretrain's `RandomBatchAugment`). A method alone with the
recipe's defaults is the method itself.
"""

import inspect

from mixup_model.arguments import argument_error
from mixup_model.arguments import check_probability
from mixup_model.methods import BATCH_METHODS
from mixup_model.recipe import OneOf
from mixup_model.recipe import validate_mode
from mixup_model.draws import validate_lambda_mode

# The recipe's flat arguments and their defaults.
RECIPE_ARGUMENTS = {
    "prob": 1.0, "switch_prob": 0.5, "lambda_mode": "per_sample", "mode": "batch",
    "method_probs": None,
}

# The flat rates' defaults: mixup on at the keras.io example's 0.2, the
# others off.
RATE_DEFAULTS = {"alpha": 0.2}

# timm's two methods, which `switch_prob` chooses between.
_SWITCHED = ("mixup", "cutmix")

# How far from 1 the probabilities may add up.
_SUM_TOLERANCE = 1e-6


def _method_defaults(method):
    """`{flat name: default}` of a method's flat arguments."""
    parameters = inspect.signature(method.__init__).parameters
    defaults = {}
    for index, (flat, argument) in enumerate(method.flat_arguments.items()):
        default = parameters[argument].default
        defaults[flat] = RATE_DEFAULTS.get(flat, 0.0) if index == 0 else default
    return defaults


FLAT_ARGUMENTS = dict(RECIPE_ARGUMENTS)
for _method in BATCH_METHODS:
    FLAT_ARGUMENTS.update(_method_defaults(_method))


def pop_flat_arguments(kwargs):
    """The flat arguments in `kwargs`, removed from it."""
    return {name: kwargs.pop(name) for name in list(kwargs) if name in FLAT_ARGUMENTS}


def _built(method, values):
    """`method` built from its flat arguments, its errors naming them."""
    instance = method.__new__(method)
    instance._flat_names = {argument: flat for flat, argument in method.flat_arguments.items()}
    arguments = {method.flat_arguments[flat]: value for flat, value in values.items()}
    instance.__init__(**arguments)
    return instance


def build_mix(**flat):
    """The mix of `MixupModel`'s flat arguments (missing ones default):
    None when no method is on, a method alone, or a `OneOf`.

    Raises:
        ValueError: An argument is out of range (named, with what was
            received), or arguments contradict each other: an option of a
            method that is off, `method_probs` that do not fit the methods
            that are on, or `switch_prob` with a `method_probs` recipe.
    """
    unknown = [name for name in flat if name not in FLAT_ARGUMENTS]
    if unknown:
        raise TypeError(f"Unknown mixing arguments {unknown}; they are {sorted(FLAT_ARGUMENTS)}.")
    values = {**FLAT_ARGUMENTS, **flat}
    prob = check_probability("prob", values["prob"])
    switch_prob = check_probability("switch_prob", values["switch_prob"])
    lambda_mode = validate_lambda_mode(values["lambda_mode"])
    mode = validate_mode(values["mode"], lambda_mode)
    methods = {}
    for method in BATCH_METHODS:
        own = {name: values[name] for name in method.flat_arguments}
        rate = next(iter(own))
        built = _built(method, own)  # validates every option, on or off
        if built.rates[method.flat_arguments[rate]] > 0:
            methods[method.key] = built
        else:
            _check_unused_options(method, built, own, rate)
    probs = _method_probs(values["method_probs"], methods, switch_prob, values)
    if not methods:
        return None
    on = list(methods.values())
    recipe = dict(prob=prob, mode=mode, lambda_mode=lambda_mode)
    if probs is not None:
        return OneOf(on, probs=[probs[key] for key in methods], **recipe)
    if len(on) == 2:
        return OneOf(on, switch_prob=switch_prob, **recipe)
    if recipe == dict(prob=1.0, mode="batch", lambda_mode="per_sample"):
        return on[0]
    return OneOf(on, **recipe)


def _check_unused_options(method, built, own, rate):
    """Raises if a method that is off got an option other than its default:
    it would do nothing."""
    default = _built(method, {rate: 1.0}).get_config()
    config = built.get_config()
    for flat, argument in list(method.flat_arguments.items())[1:]:
        if config[argument] != default[argument]:
            raise ValueError(
                f"`{flat}` is an option of {method.caption}, so it needs "
                f"{method.caption} on: `{rate}` > 0. Received: {rate}={own[rate]!r}, "
                f"{flat}={own[flat]!r}"
            )


def _rate_of(key):
    method = next(m for m in BATCH_METHODS if m.key == key)
    return next(iter(method.flat_arguments))


def _method_probs(method_probs, methods, switch_prob, values):
    """`{key: probability}` of a recipe chosen by probabilities, or None
    for timm's switch (mixup and CutMix alone) or a single method."""
    on = list(methods)
    keys = [m.key for m in BATCH_METHODS]
    if method_probs is None:
        if all(key in _SWITCHED for key in on):
            return None
        if switch_prob != 0.5:
            raise ValueError(
                "`switch_prob` chooses between mixup and CutMix alone; with "
                "other methods on, give each method's probability in "
                f"`method_probs`. Received: switch_prob={switch_prob!r}, "
                f"methods on: {on}"
            )
        return {key: 1.0 / len(on) for key in on}
    if switch_prob != 0.5:
        raise ValueError(
            "`method_probs` replaces `switch_prob`; give one of them. Received: "
            f"method_probs={method_probs!r}, switch_prob={switch_prob!r}"
        )
    if not isinstance(method_probs, dict) or not method_probs:
        raise argument_error(
            "method_probs",
            f"None or a non-empty dict from method names {tuple(keys)} to probabilities",
            method_probs,
        )
    unknown = [key for key in method_probs if key not in keys]
    if unknown:
        raise argument_error(
            "method_probs", f"a dict whose keys are among {tuple(keys)}, without {unknown}",
            method_probs,
        )
    probs = {
        key: check_probability(f"method_probs[{key!r}]", value)
        for key, value in method_probs.items()
    }
    for key in probs:
        if key not in methods:
            rate = _rate_of(key)
            raise ValueError(
                f"`method_probs` gives {key} a probability, but {key} is off: "
                f"`{rate}` is 0. Set `{rate}` > 0, or leave {key} out. Received: "
                f"method_probs={method_probs!r}"
            )
    never = [key for key in on if probs.get(key) == 0.0]
    if never:
        rate = _rate_of(never[0])
        raise ValueError(
            f"`method_probs` gives {never[0]} probability 0, but {never[0]} is "
            f"on ({rate}={values[rate]!r}): its step would carry a method it "
            f"never uses. Set `{rate}` to 0 instead. Received: "
            f"method_probs={method_probs!r}"
        )
    missing = [key for key in on if key not in probs]
    if missing:
        rates_on = ", ".join(f"{_rate_of(k)}={values[_rate_of(k)]!r}" for k in missing)
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
    return {key: probs[key] for key in on}


def flat_option(recipe, name):
    """The value of the flat option `name` (not a rate) that `recipe`
    holds: its method's option, the default when the method is not in it,
    or the recipe's `method_probs`, `mode` or `lambda_mode`."""
    if name == "method_probs":
        if recipe is None or recipe.probs is None or len(recipe.methods) < 2:
            return None
        return {m.key: p for m, p in zip(recipe.methods, recipe.probs)}
    if name in ("mode", "lambda_mode"):
        return getattr(recipe, name) if recipe is not None else FLAT_ARGUMENTS[name]
    for method in () if recipe is None else recipe.methods:
        if name in method.flat_arguments:
            return getattr(method, method.flat_arguments[name])
    return FLAT_ARGUMENTS[name]
