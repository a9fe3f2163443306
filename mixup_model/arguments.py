"""Argument checks shared by the library, with Keras-style messages.

Each check returns the value (converted where that is harmless) or raises a
`ValueError` that names the argument, says what it must be, and shows what
was received: "`alpha` must be a finite number >= 0. Received: alpha=-1".
"""

import math
import numbers


def argument_error(name, requirement, value):
    return ValueError(f"`{name}` must be {requirement}. Received: {name}={value!r}")


def is_real(value):
    """A real number that is not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def check_int(name, value, minimum):
    """An int (not a bool) >= `minimum`."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise argument_error(name, f"an int >= {minimum}", value)
    return int(value)


def check_concentration(name, value):
    """A Beta concentration: a finite number >= 0 (0 switches it off)."""
    if not is_real(value) or not math.isfinite(value) or value < 0:
        raise argument_error(
            name,
            f"a finite number >= 0 (the Beta({name}, {name}) concentration)",
            value,
        )
    return float(value)


def check_nonnegative(name, value):
    """A finite number >= 0."""
    if not is_real(value) or not math.isfinite(value) or value < 0:
        raise argument_error(name, "a finite number >= 0", value)
    return float(value)


def check_probability(name, value):
    if not is_real(value) or not 0.0 <= float(value) <= 1.0:
        raise argument_error(name, "a probability in [0, 1]", value)
    return float(value)


def check_fraction_below_one(name, value):
    """A float in [0, 1), such as a label smoothing."""
    if not is_real(value) or not 0.0 <= float(value) < 1.0:
        raise argument_error(name, "a float in [0, 1)", value)
    return float(value)


def check_choice(name, value, choices):
    if value not in choices:
        raise argument_error(name, f"one of {tuple(choices)}", value)
    return value


def check_box_fraction_range(name, value):
    """`None` or a pair `(low, high)` with `0 < low < high <= 1`: the range
    of a CutMix box's sides, as fractions of the image's."""
    if value is None:
        return None
    try:
        low, high = value
    except (TypeError, ValueError):
        low = high = None
    if not (is_real(low) and is_real(high) and 0.0 < low < high <= 1.0):
        raise argument_error(
            name, "None or a pair (low, high) with 0 < low < high <= 1", value
        )
    return (float(low), float(high))


def check_bool(name, value):
    if not isinstance(value, bool):
        raise argument_error(name, "True or False", value)
    return value


def check_open_fraction(name, value):
    """A float in (0, 1), such as a threshold on targets."""
    if not is_real(value) or not 0.0 < float(value) < 1.0:
        raise argument_error(name, "a float in (0, 1)", value)
    return float(value)
