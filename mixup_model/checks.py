"""Checks of a training batch against a `MixupModel`'s settings, at the
first step: clear errors and warnings where mixing would be silently
wrong."""

import warnings

import keras
from keras import tree

from mixup_model.mixing import describe_inputs
from mixup_model.mixing import selected_inputs


def check_inputs_are_mixed(model, x, mixed_inputs):
    """Raises unless at least one input of `x` will be mixed.

    Mixed targets with unmixed inputs would train the model towards partner
    labels of examples it never saw: label noise, not mixup.
    """
    if any(tree.flatten(selected_inputs(x, mixed_inputs))):
        return
    raise ValueError(
        "MixupModel has no input to mix: its inputs are "
        f"{describe_inputs(x)}, and signed integer and boolean inputs "
        "(ids, masks) are never blended unless named in `mixed_inputs`. "
        "Mixing only the targets would train on partner labels of inputs "
        "the model never sees. For token ids, mix their embeddings: "
        f"pass {_embedding_suggestion(model)} (manifold mixup). To blend "
        "an input anyway, list it in `mixed_inputs=[...]`. Received: "
        f"mixed_inputs={mixed_inputs!r}."
    )


def _embedding_suggestion(model):
    """`mix_layer='<the model's token embedding>'` (of the largest
    vocabulary, not a segment's), for error messages."""
    embeddings = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if isinstance(layer, keras.layers.Embedding)
    ]
    if embeddings:
        tokens = max(embeddings, key=lambda layer: layer.input_dim)
        return f"`mix_layer={tokens.name!r}`, the model's token embedding"
    return "`mix_layer=` the name of the embedding layer"


def warn_if_loss_smooths_labels(loss):
    """Warns (once per call site) if the compiled loss smooths its labels:
    mixed targets are soft already."""
    smoothing = [
        getattr(item, "label_smoothing", 0) or 0 for item in tree.flatten(loss) if item is not None
    ]
    if any(value > 0 for value in smoothing):
        warnings.warn(
            f"The compiled loss has label_smoothing={max(smoothing)} and "
            "this MixupModel mixes the targets too: mixed targets are "
            "already soft, and the two tend not to combine well (see the "
            "keras.io mixup example). Prefer one of them, or "
            "MixupModel(label_smoothing=...) to smooth explicitly.",
            UserWarning,
            stacklevel=3,
        )
        return True
    return False
