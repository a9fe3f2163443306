"""`MixupModel`: a `keras.Model` whose training step trains on mixup batches."""

import math
import numbers
import threading

import keras
import tensorflow as tf
from keras.src.models.functional import Functional

from mixup_model.mixing import MixParams
from mixup_model.mixing import batch_size_of
from mixup_model.mixing import mix_inputs
from mixup_model.mixing import mix_targets
from mixup_model.mixing import sample_mix_params
from mixup_model.mixing import validate_lambda_mode

# Key of the mixup random state in a model's weights store (`.keras` files,
# `save_weights`, `ModelCheckpoint`, `BackupAndRestore`). Keras does not
# save `SeedGenerator` state by itself; without it a resumed run would replay
# the lambda sequence from the seed.
SEED_STATE_KEY = "mixup_seed_state"

# The mixup of the batch being traced, per thread: `tf.distribute` traces
# each replica's step in its own thread. Keyed by model id, so models do not
# see each other's batches.
_active = threading.local()


def _functional_init_arguments(args, kwargs):
    # The same test Keras uses to tell `Model(inputs, outputs)` apart.
    return (
        len(args) == 2
        or (len(args) == 1 and "outputs" in kwargs)
        or ("inputs" in kwargs and "outputs" in kwargs)
    )


def _validate_alpha(alpha):
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise ValueError(
            "`alpha` must be a finite number >= 0 (the Beta(alpha, alpha) "
            f"concentration), got {alpha!r} of type {type(alpha).__name__}."
        )
    alpha = float(alpha)
    if not math.isfinite(alpha) or alpha < 0:
        raise ValueError(
            "`alpha` must be a finite number >= 0 (the Beta(alpha, alpha) "
            f"concentration), got {alpha!r}."
        )
    return alpha


def _validate_seed(seed):
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
    ):
        raise ValueError(f"`seed` must be None or an int, got {seed!r}.")
    return None if seed is None else int(seed)


@keras.saving.register_keras_serializable(package="mixup_model")
class MixupModel(keras.Model):
    """A Keras model that trains on mixup batches (Zhang et al., 2018).

    Each training batch is mixed with a random permutation of itself inside
    the compiled train step: `x' = lam * x + (1 - lam) * x[perm]`, and the
    targets the same way, with `lam ~ Beta(alpha, alpha)`. `evaluate`,
    `predict` and `test_step` are untouched and see clean data.

    Three ways to build one:

    1. Wrap an existing model: `MixupModel(model, alpha=0.2)`.
    2. Subclass: `class Net(MixupModel)` with layers in `__init__` (pass
       `**kwargs` on to `super().__init__`) and a `call`.
    3. Functional: `MixupModel(inputs=..., outputs=..., alpha=0.2)`, which
       returns a `FunctionalMixupModel`.

    Targets: one-hot or soft float targets are blended like the inputs.
    Integer class labels (shape `(batch,)` or `(batch, 1)`, for a sparse
    loss) and sample weights (`sample_weight=`, `class_weight=`) are handled
    by decomposing the loss as `lam * L(y) + (1 - lam) * L(y[perm])`, each
    weight staying with its own example's term.

    Training metrics are computed on the mixed batch: against the blended
    targets, or, for integer labels, against the label with the larger
    weight. Training accuracy therefore measures agreement with the
    dominant source and is lower than clean accuracy; use `evaluate` or
    `validation_data` for clean numbers.

    Args:
        model: The `keras.Model` to wrap, or `None` when subclassing.
        alpha: Concentration of `Beta(alpha, alpha)`, a finite float >= 0.
            `0` disables mixing: training is then exactly the wrapped model's
            own training. Defaults to `0.2`, the keras.io example's value.
        lambda_mode: `"per_sample"` (default) draws one lambda per example,
            `"per_batch"` one lambda per batch (the paper's reference code).
        seed: Optional int seeding the mixup random generator, for
            reproducible runs. The generator's state is saved with the
            weights, so a resumed run continues the sequence.
        **kwargs: Passed to `keras.Model` (`name`, `trainable`, ...).

    Example:

    ```python
    inner = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model = MixupModel(inner, alpha=0.2, seed=1)
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=2)
    model.evaluate(x_test, y_test)  # clean data
    ```
    """

    def __new__(cls, *args, **kwargs):
        # `keras.Model.__init__` turns a subclass called with
        # `(inputs, outputs)` into a Functional subclass by rewriting its
        # `__bases__`, which would break every later wrapped or subclassed
        # MixupModel. Route that call to a dedicated class instead.
        if cls is MixupModel and _functional_init_arguments(args, kwargs):
            return FunctionalMixupModel.__new__(
                FunctionalMixupModel, *args, **kwargs
            )
        return super().__new__(cls, *args, **kwargs)

    def __init__(
        self,
        model=None,
        *,
        alpha=0.2,
        lambda_mode="per_sample",
        seed=None,
        **kwargs,
    ):
        if not isinstance(self, Functional) and _functional_init_arguments(
            (), kwargs
        ):
            raise TypeError(
                f"{type(self).__name__} got `inputs` and `outputs`. Build a "
                "functional model with `MixupModel(inputs=..., outputs=...)`"
                ", or subclass `mixup_model.FunctionalMixupModel` for a "
                "functional subclass."
            )
        if model is not None and not isinstance(model, keras.Model):
            raise ValueError(
                "`model` must be a keras.Model to wrap (or None when "
                f"subclassing MixupModel), got {type(model).__name__}."
            )
        alpha = _validate_alpha(alpha)
        lambda_mode = validate_lambda_mode(lambda_mode)
        seed = _validate_seed(seed)
        super().__init__(**kwargs)
        self.model = model
        self.alpha = alpha
        self.lambda_mode = lambda_mode
        self.seed = seed
        self.mixup_seed_generator = keras.random.SeedGenerator(
            seed, name="mixup_seed_generator"
        )
        if model is not None and model.built:
            self.built = True

    def call(self, inputs, training=None):
        if self.model is None:
            raise NotImplementedError(
                f"{type(self).__name__} must implement `call()`, or wrap a "
                "model: `MixupModel(model, alpha=...)`."
            )
        return self.model(inputs, training=training)

    # -- Mixing ---------------------------------------------------------------

    def sample_mix_params(self, batch_size):
        """Draws the `MixParams` (lambda and partners) of one batch.

        Each replica of a `tf.distribute` strategy folds its replica id into
        the seed, so replicas mix their local batches independently.
        """
        seed = self.mixup_seed_generator.next()
        replica = tf.distribute.get_replica_context()
        if replica is not None and replica.num_replicas_in_sync > 1:
            seed = tf.random.experimental.stateless_fold_in(
                seed,
                tf.cast(replica.replica_id_in_sync_group, tf.int32),
            )
        return sample_mix_params(batch_size, self.alpha, seed, self.lambda_mode)

    def train_step(self, data):
        statistics = self.mixup_statistics
        if self.alpha == 0 and statistics is None:
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch_size = batch_size_of(x)
        if self.alpha == 0:  # no mixing, but statistics to record
            params = MixParams(tf.ones([batch_size]), tf.range(batch_size))
            mixed_x = x
        else:
            params = self.sample_mix_params(batch_size)
            mixed_x = mix_inputs(x, params)
        clean_pred = None
        if statistics is not None and statistics.clean_accuracy:
            clean_pred = self(x, training=False)
        # Keras's own train step does the forward pass, loss scaling,
        # gradients and metrics; `compute_loss` and `compute_metrics` below
        # pick up `params` to mix the targets against the outputs.
        active = self._active_mixes()
        active[id(self)] = {
            "params": params,
            "mixing": self.alpha > 0,
            "clean_pred": clean_pred,
        }
        try:
            return super().train_step(
                keras.utils.pack_x_y_sample_weight(mixed_x, y, sample_weight)
            )
        finally:
            del active[id(self)]

    @property
    def mixup_statistics(self):
        """The `MixupStatistics` recorded by the train step, or None."""
        return self.__dict__.get("_mixup_statistics")

    def set_mixup_statistics(self, statistics):
        """Starts (or with None, stops) recording `MixupStatistics`.

        `mixup_model.MixupTensorBoard` calls this. The train step is traced
        once per statistics object and `compile`, so switching back and forth
        between fits does not trace it again. The statistics are not part of
        the model's state and are never saved with it.
        """
        # Kept past Keras's attribute tracking: none of this is model state.
        traced = self.__dict__.setdefault("_traced_train_functions", {})
        # Keras makes a new compile config at each `compile()`, which also
        # drops its traced step: a step cached under another one is stale.
        compiled_as = getattr(self, "_compile_config", None)
        current = self.mixup_statistics
        if self.train_function is not None:
            traced[id(current)] = (current, compiled_as, self.train_function)
        object.__setattr__(self, "_mixup_statistics", statistics)
        cached = traced.get(id(statistics))
        fresh = (
            cached is not None
            and cached[0] is statistics
            and cached[1] is compiled_as
        )
        self.train_function = cached[2] if fresh else None

    @staticmethod
    def _active_mixes():
        if not hasattr(_active, "mixes"):
            _active.mixes = {}
        return _active.mixes

    def _mixed_targets(self, y, y_pred, sample_weight):
        """The `MixedTargets` of the batch being trained, else None."""
        state = self._active_mixes().get(id(self))
        if state is None or not state["mixing"] or y is None:
            return None
        if "targets" not in state:
            state["targets"] = mix_targets(
                y, y_pred, sample_weight, state["params"]
            )
        return state["targets"]

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        targets = self._mixed_targets(y, y_pred, sample_weight)
        if targets is None:
            return super().compute_loss(
                x, y, y_pred, sample_weight, training=training
            )
        (first_y, first_w), *more_terms = targets.loss_terms
        # The first term through `compute_loss` also adds regularization and
        # `add_loss` terms, exactly once.
        loss = super().compute_loss(
            x, first_y, y_pred, first_w, training=training
        )
        for term_y, term_w in more_terms:
            if self._compile_loss is not None:
                loss = loss + self._compile_loss(term_y, y_pred, term_w)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        targets = self._mixed_targets(y, y_pred, sample_weight)
        if targets is None:
            logs = super().compute_metrics(x, y, y_pred, sample_weight)
        else:
            logs = super().compute_metrics(
                x, targets.metric_y, y_pred, targets.metric_sample_weight
            )
        state = self._active_mixes().get(id(self))
        statistics = self.mixup_statistics
        if state is not None and statistics is not None:
            # `x` is the mixed batch exactly as the model saw it.
            statistics.update(state["params"], x, y, y_pred, state["clean_pred"])
        return logs

    def summary(self, *args, expand_nested=None, print_fn=None, **kwargs):
        """Keras's summary, with a wrapped model's layers and the mixup settings.

        Args:
            expand_nested: As in `keras.Model.summary`; defaults to `True`
                for a wrapped model, whose layers are otherwise one row.
            *args, print_fn, **kwargs: As in `keras.Model.summary`.
        """
        if expand_nested is None:
            expand_nested = self.model is not None
        super().summary(
            *args, expand_nested=expand_nested, print_fn=print_fn, **kwargs
        )
        settings = ", ".join(f"{k}={v!r}" for k, v in self.mixup_config().items())
        (print_fn or print)(f" Mixup: {settings}")

    # -- Saving ---------------------------------------------------------------

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[SEED_STATE_KEY] = self.mixup_seed_generator.state.numpy()

    def load_own_variables(self, store):
        own = {k: store[k] for k in store.keys() if k != SEED_STATE_KEY}
        super().load_own_variables(own)
        if SEED_STATE_KEY in store.keys():
            self.mixup_seed_generator.state.assign(store[SEED_STATE_KEY])

    def mixup_config(self):
        """The mixup settings, as passed to the constructor."""
        return {
            "alpha": self.alpha,
            "lambda_mode": self.lambda_mode,
            "seed": self.seed,
        }

    def get_config(self):
        if self.model is None:
            config = super().get_config()
        else:
            config = {
                "name": self.name,
                "trainable": self.trainable,
                "model": keras.saving.serialize_keras_object(self.model),
            }
        config.update(self.mixup_config())
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        if isinstance(config.get("model"), dict):
            config = dict(config)
            config["model"] = keras.saving.deserialize_keras_object(
                config["model"], custom_objects=custom_objects
            )
            return cls(**config)
        return super().from_config(config, custom_objects=custom_objects)


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
        alpha, lambda_mode, seed: As for `MixupModel`.
        **kwargs: Passed to `keras.Model` (`trainable`, ...).

    Example:

    ```python
    inputs = keras.Input((16,))
    outputs = keras.layers.Dense(3, activation="softmax")(inputs)
    model = MixupModel(inputs=inputs, outputs=outputs, alpha=0.4)
    ```
    """

    def __init__(
        self,
        inputs,
        outputs,
        name=None,
        *,
        alpha=0.2,
        lambda_mode="per_sample",
        seed=None,
        **kwargs,
    ):
        # MixupModel.__init__ forwards `inputs`/`outputs` to
        # `Functional.__init__`, next in the MRO.
        super().__init__(
            alpha=alpha,
            lambda_mode=lambda_mode,
            seed=seed,
            inputs=inputs,
            outputs=outputs,
            name=name,
            **kwargs,
        )

    call = Functional.call

    def get_config(self):
        config = Functional.get_config(self)
        config.update(self.mixup_config())
        return config
