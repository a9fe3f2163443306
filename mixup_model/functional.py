"""`FunctionalMixupModel`: `MixupModel(inputs=..., outputs=...)`, a real
Keras functional model that trains with mixup."""

import keras
from keras.src.models.functional import Functional
from keras.src.models.functional import functional_from_config

from mixup_model.model import MixupModel


@keras.saving.register_keras_serializable(package="mixup_model")
class FunctionalMixupModel(MixupModel, Functional):
    """A functional `MixupModel`: `MixupModel(inputs=..., outputs=...)`.

    It is a real Keras functional model (`layers`, `get_layer`, `summary`,
    serialization) that trains with mixup. Subclass it for a functional
    subclass that builds its graph in `__init__`.

    Args:
        inputs: The model's input tensor(s), from `keras.Input`.
        outputs: The model's output tensor(s).
        name: Optional model name.
        **kwargs: The mixup settings of `MixupModel` (`mix` or the flat
            arguments, `label_smoothing`, `mix_layer`, ...), and
            `keras.Model` arguments (`trainable`, ...).

    Example:

    ```python
    inputs = keras.Input((16,))
    outputs = keras.layers.Dense(3, activation="softmax")(inputs)
    model = MixupModel(inputs=inputs, outputs=outputs, alpha=0.4)
    ```
    """

    # `(inputs, outputs, name=None, **kwargs)`, spelled `(*args, **kwargs)`:
    # Keras serializes the graph of a Functional subclass only if it
    # recognises the constructor as functional, and Keras 3.6 to 3.14 see
    # `Functional.__init__` itself as `(*args, **kwargs)` (a decorator wraps
    # it); Keras 3.15 accepts that form too.
    def __init__(self, *args, **kwargs):
        if len(args) > len(_FUNCTIONAL_ARGUMENTS):
            raise TypeError(
                "FunctionalMixupModel takes (inputs, outputs, name=None) "
                "positionally; pass the mixup settings by name. Received: "
                f"{len(args)} positional arguments, the last "
                f"{args[len(_FUNCTIONAL_ARGUMENTS):]!r}"
            )
        for name, value in zip(_FUNCTIONAL_ARGUMENTS, args):
            if name in kwargs:
                raise TypeError(
                    f"FunctionalMixupModel got `{name}` both by position and "
                    f"by name. Received: {name}={kwargs[name]!r}"
                )
            kwargs[name] = value
        # MixupModel.__init__ forwards `inputs`/`outputs` to
        # `Functional.__init__`, next in the MRO.
        super().__init__(**kwargs)

    call = Functional.call

    def get_config(self):
        config = Functional.get_config(self)
        config.update(self.mixup_config())
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if cls.__init__ is not FunctionalMixupModel.__init__ or not all(
            key in config for key in _GRAPH_CONFIG_KEYS
        ):
            # A subclass with a constructor of its own, or a config without
            # a graph: Keras's fallback, `cls(**config)`.
            return super().from_config(config, custom_objects=custom_objects)
        # Keras rebuilds the graph; the settings are passed on here, since
        # Keras before 3.7 drops every key it does not know.
        graph = functional_from_config(
            _FunctionalArguments, dict(config), custom_objects=custom_objects
        )
        mixup_settings = {
            k: v
            for k, v in config.items()
            if k not in _GRAPH_CONFIG_KEYS + ("name", "trainable")
        }
        return cls(
            inputs=graph.inputs,
            outputs=graph.outputs,
            name=graph.name,
            trainable=graph.trainable,
            **mixup_settings,
        )


_FUNCTIONAL_ARGUMENTS = ("inputs", "outputs", "name")
_GRAPH_CONFIG_KEYS = ("layers", "input_layers", "output_layers")


class _FunctionalArguments:
    """What `functional_from_config` passes to the class it rebuilds: the
    graph's input and output tensors, as a `FunctionalMixupModel` takes them."""

    def __init__(self, inputs, outputs, name=None, trainable=True, **unused):
        self.inputs = inputs
        self.outputs = outputs
        self.name = name
        self.trainable = True if trainable is None else trainable
