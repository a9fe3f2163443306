"""Manifold mixup (Verma et al., ICML 2019): mix a layer's activations.

The model runs on the clean batch up to the named layer; its outputs are
mixed with the batch's `MixParams` (as inputs are, `mixup_model.mixing`),
and the rest of the model runs on them. This is also how mixup reaches
inputs that cannot be blended, such as token ids (name the embedding).

The layer's `call` is wrapped once (`MixLayerHook`); the wrapper acts only
while a train step of its model is traced in the current thread, and only
on the layer's first call in it, so evaluation, prediction and other models
that share the layer see it unchanged.
"""

import weakref

from keras import tree

from mixup_model.arguments import argument_error
from mixup_model.layers import layer_named
from mixup_model.steps import regmixup
from mixup_model.mixing import describe_inputs
from mixup_model.mixing import mix_inputs
from mixup_model.mixing import selected_inputs


def validate_mix_layer(mix_layer):
    """Returns `mix_layer`, None or a layer name, or raises."""
    if mix_layer is not None and (not isinstance(mix_layer, str) or not mix_layer):
        raise argument_error(
            "mix_layer",
            "None (mix the inputs) or the name of a layer of the model "
            "(manifold mixup)",
            mix_layer,
        )
    return mix_layer


class MixLayerHook:
    """Wraps the `call` of the layer that `mix_layer` names, once.

    While `step_of()` returns a step that waits for it
    (`step.manifold_pending`), the layer's first call in that step returns
    its outputs mixed with the step's `MixParams` (the mixed half only in a
    RegMixup step); at any other time the layer is unchanged.

    Args:
        layer: The layer.
        name: Its name, as `mix_layer` gave it (for errors).
        step_of: A function that returns the `MixedStep` being traced in
            this thread, or None.
    """

    def __init__(self, layer, name, step_of):
        self.name = name
        original_call = layer.call
        step_of = weakref.WeakMethod(step_of) if hasattr(step_of, "__self__") else (lambda: step_of)

        def call(*args, **kwargs):
            outputs = original_call(*args, **kwargs)
            current = step_of()
            step = None if current is None else current()
            if step is None or not step.manifold_pending:
                return outputs
            step.manifold_pending = False
            if not any(tree.flatten(selected_inputs(outputs))):
                raise ValueError(
                    f"`mix_layer`={name!r} outputs no floating tensor to mix: "
                    f"{describe_inputs(outputs)}. Name a layer whose outputs are "
                    "activations, such as an embedding."
                )
            if step.clean_size is not None:
                return regmixup.mix_second_half(
                    outputs, step.clean_size, lambda half: mix_inputs(half, step.params)
                )
            return mix_inputs(outputs, step.params)

        object.__setattr__(layer, "call", call)


def hook_mix_layer(model, name, step_of):
    """A `MixLayerHook` on the layer of `model` named `name`, or raises if
    the model has no such layer."""
    return MixLayerHook(layer_named(model, name, "mix_layer"), name, step_of)


def check_layer_was_called(step, mix_layer):
    """Raises if the step's forward pass never reached `mix_layer`: its
    targets would be mixed for inputs that were not."""
    if step.manifold_pending:
        raise ValueError(
            f"`mix_layer`={mix_layer!r} was not called in the "
            "model's forward pass, so its activations could not be mixed."
        )
