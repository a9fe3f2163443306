"""Finding the layer that a setting names (`mix_layer`, `transmix_layer`)."""


def layer_named(model, name, argument):
    """The first layer of `model` (nested ones included) called `name`.

    Args:
        model: A Keras model.
        name: The layer's name.
        argument: The setting that names it, for the error.

    Raises:
        ValueError: No layer has that name; the message lists the model's.
    """
    layers = list(model._flatten_layers(include_self=False, recursive=True))
    matches = [layer for layer in layers if layer.name == name]
    if not matches:
        names = [layer.name for layer in layers]
        raise ValueError(
            f"`{argument}`={name!r} is not a layer of this model; its layers "
            f"are {names}."
        )
    return matches[0]
