"""Manifold mixup (Verma et al., ICML 2019): mix a layer's activations.

The model runs on the clean batch up to the named layer; its outputs are
mixed with the batch's `MixParams` (as inputs are, `mixup_model.mixing`),
and the rest of the model runs on them. This is also how mixup reaches
inputs that cannot be blended, such as token ids (name the embedding).

The layer's `call` is wrapped once (`hook_mix_layer`); the wrapper acts only
while a train step of its model is traced in the current thread, and only
on the layer's first call in it, so evaluation, prediction and other models
that share the layer see it unchanged.
"""

import weakref

from keras import tree

from mixup_model.arguments import argument_error
from mixup_model.layers import layer_named
from mixup_model.methods import regmixup
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


def hook_mix_layer(model):
    """Makes `model.mix_layer` mix its outputs during `model`'s train step
    (wrapped once per model), or raises if the model has no such layer."""
    if model.__dict__.get("_hooked_layer") is not None:
        return
    layer = layer_named(model, model.mix_layer, "mix_layer")
    original_call = layer.call
    owner = weakref.ref(model)

    def call(*args, **kwargs):
        outputs = original_call(*args, **kwargs)
        model = owner()
        step = None if model is None else model._traced_step()
        if step is None or not step.manifold_pending:
            return outputs
        step.manifold_pending = False
        if not any(tree.flatten(selected_inputs(outputs))):
            raise ValueError(
                f"`mix_layer`={model.mix_layer!r} outputs no floating "
                f"tensor to mix: {describe_inputs(outputs)}. Name a layer "
                "whose outputs are activations, such as an embedding."
            )
        if step.clean_size is not None:
            return regmixup.mix_second_half(
                outputs, step.clean_size, lambda half: mix_inputs(half, step.params)
            )
        return mix_inputs(outputs, step.params)

    object.__setattr__(layer, "call", call)
    object.__setattr__(model, "_hooked_layer", layer)


def check_layer_was_called(step, mix_layer):
    """Raises if the step's forward pass never reached `mix_layer`: its
    targets would be mixed for inputs that were not."""
    if step.manifold_pending:
        raise ValueError(
            f"`mix_layer`={mix_layer!r} was not called in the "
            "model's forward pass, so its activations could not be mixed."
        )
