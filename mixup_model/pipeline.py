"""KerasHub tasks: a wrapped `PipelineModel` keeps its preprocessing.

KerasHub's tasks (`ImageClassifier`, `TextClassifier`, ...) are
`PipelineModel`s: their `fit`, `evaluate`, `predict` and `*_on_batch` map
the task's `preprocess_samples` (its `preprocessor`: resizing, rescaling,
tokenizing) over the data before the compiled step sees it. A `MixupModel`
that wraps such a task runs KerasHub's own code of these methods, with the
task's `preprocess_samples`: every batch is preprocessed as the task does it
(labels and sample weights as KerasHub passes them, raw strings to a
tokenizer, `validation_data` too), and the mixup step mixes the
preprocessed batch. `task.preprocessor = None` turns preprocessing off, as
for the task itself.

The methods are KerasHub's functions, bound to a subclass of the
`MixupModel` class rather than inherited: `PipelineModel` rewrites its own
base classes whenever one is constructed (functional tasks put Keras's
`Functional` there), which a model that is not functional must not do.

KerasHub is optional: nothing here imports it. A model is a `PipelineModel`
only if KerasHub's module that defines the class is loaded already.
"""

import sys
import types

from keras.src.saving import object_registration

# Where KerasHub defines `PipelineModel`.
_PIPELINE_MODULE = "keras_hub.src.utils.pipeline_model"

# What a `MixupModel` keeps of its own: its construction, and the task's
# preprocessing in place of the pipeline's identity.
_NOT_TAKEN = ("__init__", "__new__", "preprocess_samples")

# `(MixupModel class, PipelineModel)` -> their pipeline subclass.
_PIPELINE_CLASSES = {}


def pipeline_base(model):
    """KerasHub's `PipelineModel` class if `model` is one, else None."""
    module = sys.modules.get(_PIPELINE_MODULE)
    base = getattr(module, "PipelineModel", None)
    if base is not None and isinstance(model, base):
        return base
    return None


def _preprocess_samples(self, x, y=None, sample_weight=None):
    """The wrapped task's `preprocess_samples`: its preprocessor, if any."""
    return self.model.preprocess_samples(x, y, sample_weight)


def _preprocessor(self):
    """The wrapped task's `preprocessor` (set it on the task: `None` turns
    preprocessing off)."""
    return self.model.preprocessor


def _rebound(function, class_cell):
    """`function` with its `super()` resolved from `class_cell`'s class."""
    if "__class__" not in function.__code__.co_freevars:
        return function
    closure = tuple(
        class_cell if name == "__class__" else cell
        for name, cell in zip(function.__code__.co_freevars, function.__closure__)
    )
    rebound = types.FunctionType(
        function.__code__, function.__globals__, function.__name__,
        function.__defaults__, closure,
    )
    rebound.__kwdefaults__ = function.__kwdefaults__
    rebound.__doc__ = function.__doc__
    return rebound


def with_pipeline(cls, base):
    """`cls` (a `MixupModel` class) with the methods of KerasHub's `base`
    (`PipelineModel`) and the wrapped task's preprocessing, made once per
    pair.

    The class keeps `cls`'s name, module and registered name, so that a
    saved model records `cls` and loads through it (its constructor routes
    to this class again when the loaded model is a task).
    """
    if cls.__dict__.get("_runs_pipeline_of") is base:
        return cls
    key = (cls, base)
    if key not in _PIPELINE_CLASSES:
        class_cell = types.CellType()
        namespace = {
            name: _rebound(value, class_cell)
            for name, value in vars(base).items()
            if isinstance(value, types.FunctionType) and name not in _NOT_TAKEN
        }
        namespace.update(
            __module__=cls.__module__,
            __qualname__=cls.__qualname__,
            __doc__=cls.__doc__,
            preprocess_samples=_preprocess_samples,
            preprocessor=property(_preprocessor),
            _runs_pipeline_of=base,
        )
        pipeline_cls = type(cls.__name__, (cls,), namespace)
        class_cell.cell_contents = pipeline_cls
        object_registration.GLOBAL_CUSTOM_NAMES[pipeline_cls] = (
            object_registration.get_registered_name(cls)
        )
        _PIPELINE_CLASSES[key] = pipeline_cls
    return _PIPELINE_CLASSES[key]
