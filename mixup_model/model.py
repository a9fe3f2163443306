"""`MixupModel`: a `keras.Model` whose training step trains on mixed batches.

The facade keeps the Keras parts: construction and routing of the three
forms, the train-step adapter, `compute_loss` and `compute_metrics`,
saving, `summary`, the random state and the rates variable. What a batch
is mixed with is the recipe's (`mixup_model.recipe`, over the methods of
`mixup_model.methods`), applied by `mixup_model.mixing` and
`mixup_model.targets`; the step methods are in `mixup_model.steps`.
"""

import inspect

import keras
from keras import ops
from keras.src.models.functional import Functional

from mixup_model import checks
from mixup_model import flat
from mixup_model import rates
from mixup_model import settings
from mixup_model.arguments import argument_error
from mixup_model.attributes import add_setting_attributes
from mixup_model.backend import current as backend
from mixup_model.mixing import batch_size_of
from mixup_model.mixing import describe_inputs
from mixup_model.mixing import first_cut_input
from mixup_model.mixing import mix_inputs
from mixup_model.params import identity_params
from mixup_model.pipeline import pipeline_base
from mixup_model.pipeline import with_pipeline
from mixup_model.recipe import as_recipe
from mixup_model.recording import StatisticsRecording
from mixup_model.sizes import InputSizes
from mixup_model.sizes import sizes_of
from mixup_model.sizes import static_cut_dims
from mixup_model.step import MixedStep
from mixup_model.step import TracedSteps
from mixup_model.steps import manifold
from mixup_model.steps import regmixup
from mixup_model.steps import transmix
from mixup_model.targets import mix_targets

# Keys of the random state and of the rates in a model's weights store
# (`.keras` files, `save_weights`, `ModelCheckpoint`, `BackupAndRestore`):
# Keras saves no `SeedGenerator` state, and a schedule moves the rates.
SEED_STATE_KEY = "mixup_seed_state"
RATES_KEY = "mixup_rates"


def _functional_init_arguments(args, kwargs):
    # The same test Keras uses to tell `Model(inputs, outputs)` apart.
    return (
        len(args) == 2
        or (len(args) == 1 and "outputs" in kwargs)
        or ("inputs" in kwargs and "outputs" in kwargs)
    )


@keras.saving.register_keras_serializable(package="mixup_model")
class MixupModel(backend.TrainStep, StatisticsRecording, keras.Model):
    """A Keras model that trains on mixed batches (mixup, Zhang et al. 2018,
    and its family).

    Each training batch is mixed with a random permutation of itself inside
    the compiled train step; `evaluate`, `predict` and `test_step` see
    clean data. Three ways to build one: wrap a model (`MixupModel(model,
    ...)`; a KerasHub task keeps its preprocessing), subclass (layers in
    `__init__`, `**kwargs` passed on, a `call`), or functional
    (`MixupModel(inputs=..., outputs=...)`, a `FunctionalMixupModel`).

    What a batch is mixed with is `mix`: a method (`Mixup(0.2)`,
    `CutMix(1.0)`, `ResizeMix`, `FMix`; see `mixup_model.methods`) or a
    recipe of several (`OneOf([...], probs=..., prob=..., mode=...)`, see
    `mixup_model.recipe`). The flat arguments of timm's vocabulary build the
    same objects (`alpha=0.8, cutmix_alpha=1.0, switch_prob=0.5, ...`; the
    guide's table lists them), with the same random streams; give one form
    or the other.

    Targets: one-hot or soft targets are blended like the inputs; integer
    labels and sample weights split the loss into one term per source
    (`mixup_model.mix_targets`), per-pixel targets take each method's
    region cell by cell. Training metrics are computed on the mixed batch.

    Every rate (`alpha`, `prob`, `"cutmix.alpha"`, ...) lives in a variable
    that the step reads: `set_rate`, the rate properties, `MixupScheduler`
    and `MixupOff` change it without retracing. Which methods the step
    holds is fixed at construction (a rate of 0 pauses one).

    Args:
        model: The `keras.Model` to wrap, or `None` when subclassing.
        mix: A batch method or a `OneOf` recipe (or its config). Default:
            the flat arguments' (`alpha=0.2`: mixup as in the keras.io
            example).
        label_smoothing: Smooths the (mixed) training targets, a float in
            [0, 1); needs one-hot or soft targets.
        mix_layer: Name of a layer whose outputs are mixed instead of the
            inputs (manifold mixup; `mixup_model.steps.manifold`), such as
            the embedding of token ids.
        mixed_inputs: Names (dict keys) or positions of the inputs to mix;
            default: floating and unsigned inputs are mixed, signed integer
            and boolean ones (ids, masks) are not.
        seed: Optional int seeding the mixing's random generator; its state
            is saved with the weights, so a resumed run continues.
        target_threshold: Optional float in (0, 1) (timm's
            `bce_target_thresh`): mixed training targets above it become 1,
            the others 0.
        regmixup_eta: RegMixup's weight of the mixed loss, >= 0 (0: off;
            `mixup_model.steps.regmixup`).
        transmix_layer: TransMix's attention layer (a `MultiHeadAttention`
            or a block holding one), whose class token's attention weighs
            CutMix's labels (`mixup_model.steps.transmix`).
        **kwargs: The flat mixing arguments, and `keras.Model`'s (`name`,
            `trainable`, ...).

    Raises:
        ValueError: A setting is out of range or contradicts another (each
            error names them and what was received); at the first step, an
            input cannot be mixed as asked.
        TypeError: `model` is not a `keras.Model`, or `inputs`/`outputs`
            are given to a subclass that is not functional.

    Example:

    ```python
    model = MixupModel(inner, alpha=0.2, seed=1)
    model = MixupModel(inner, mix=OneOf([Mixup(0.8), CutMix(1.0)], mode="elem"))
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=2)
    ```
    """

    def __new__(cls, *args, **kwargs):
        # `keras.Model.__init__` turns a subclass called with
        # `(inputs, outputs)` into a Functional subclass by rewriting its
        # `__bases__`, which would break every later wrapped or subclassed
        # MixupModel. Route that call to a dedicated class instead.
        if cls is MixupModel and _functional_init_arguments(args, kwargs):
            from mixup_model.functional import FunctionalMixupModel

            return FunctionalMixupModel.__new__(FunctionalMixupModel, *args, **kwargs)
        # A KerasHub task keeps its preprocessing (`mixup_model.pipeline`).
        base = pipeline_base(args[0] if args else kwargs.get("model"))
        if base is not None:
            cls = with_pipeline(cls, base)
        return super().__new__(cls, *args, **kwargs)

    def __init__(self, model=None, *, mix=None, label_smoothing=0.0, mix_layer=None,
                 mixed_inputs=None, seed=None, target_threshold=None, regmixup_eta=0.0,
                 transmix_layer=None, **kwargs):
        if not isinstance(self, Functional) and _functional_init_arguments((), kwargs):
            raise TypeError(
                f"{type(self).__name__} got `inputs` and `outputs`. Build a "
                "functional model with `MixupModel(inputs=..., outputs=...)`"
                ", or subclass `mixup_model.FunctionalMixupModel` for a "
                "functional subclass."
            )
        if model is not None and not isinstance(model, keras.Model):
            raise argument_error(
                "model", "a keras.Model to wrap (or None when subclassing MixupModel)", model
            )
        object.__setattr__(self, "_step_context", TracedSteps())
        flat_arguments = flat.pop_flat_arguments(kwargs)
        if isinstance(mix, dict):
            mix = keras.saving.deserialize_keras_object(mix)
        if mix is not None and flat_arguments:
            raise ValueError(
                "Give the mixing as `mix` or as its flat arguments, not both. "
                f"Received: mix={mix!r}, {', '.join(f'{k}={v!r}' for k, v in flat_arguments.items())}"
            )
        if mix is None:
            mix = flat.build_mix(**flat_arguments)
        recipe = as_recipe(mix)
        options = settings.validated_settings(
            recipe, label_smoothing=label_smoothing, mix_layer=mix_layer,
            mixed_inputs=mixed_inputs, seed=seed, target_threshold=target_threshold,
            regmixup_eta=regmixup_eta, transmix_layer=transmix_layer,
        )
        super().__init__(**kwargs)
        self.model = model
        # Settings, not layer state: past Keras's attribute tracking, and
        # read-only (`_setting_property`).
        for name, value in options.items():
            object.__setattr__(self, f"_{name}", value)
        object.__setattr__(self, "mix", mix)
        object.__setattr__(self, "recipe", recipe)
        object.__setattr__(self, "rate_layout", rates.RateLayout(recipe))
        object.__setattr__(
            self, "_transmix",
            None if transmix_layer is None else transmix.TransMix(transmix_layer),
        )
        # Model state like the random state, not a weight: listed in
        # `variables` below (so that it travels through JAX's step state),
        # saved by `save_own_variables`.
        object.__setattr__(self, "mixup_rates", keras.Variable(
            self.rate_layout.initial, trainable=False, dtype="float32", name="mixup_rates",
        ))
        self.mixup_seed_generator = keras.random.SeedGenerator(seed, name="mixup_seed_generator")
        object.__setattr__(
            self, "_step_draws", backend.StepDraws(self.mixup_seed_generator, self.mixup_rates)
        )
        if model is not None and model.built:
            self.built = True

    @property
    def variables(self):
        """Keras's variables, plus the rates and, while `MixupTensorBoard`
        records, its statistics: model state, not weights."""
        variables = super().variables
        rate_variable = self.__dict__.get("mixup_rates")  # None until __init__ made it
        if rate_variable is not None:
            variables.append(rate_variable)
        if self.mixup_statistics is not None:
            variables += self.mixup_statistics.variables
        return variables

    # -- Rates ----------------------------------------------------------------

    def get_rate(self, name, method=None):
        """The current value of a rate: `"prob"`, `"switch_prob"`, a
        method's (`"alpha", method="cutmix"`, or `"cutmix.alpha"`) or its
        flat name (`"cutmix_alpha"`)."""
        index = self.rate_layout.index(rates.qualified_name(name, method))
        return rates.decimal(ops.convert_to_numpy(self.mixup_rates)[index])

    def set_rate(self, name, value, method=None):
        """Sets a rate (named as in `get_rate`) for the next step."""
        qualified = rates.qualified_name(name, method)
        shown = name if method is None else qualified
        value = rates.validate(qualified, value, shown)
        self.rate_layout.check_settable(qualified, value, shown)
        values = ops.convert_to_numpy(self.mixup_rates).copy()
        values[self.rate_layout.index(qualified)] = value
        self.mixup_rates.assign(values)

    def current_rates(self):
        """`{name: value}` of every rate, by flat name where it has one."""
        values = ops.convert_to_numpy(self.mixup_rates)
        return {rates.display_name(n): rates.decimal(v) for n, v in zip(rates.SLOTS, values)}

    def call(self, inputs, training=None):
        if self.model is None:
            raise NotImplementedError(
                f"{type(self).__name__} must implement `call()`, or wrap a "
                "model: `MixupModel(model, alpha=...)`."
            )
        return self.model(inputs, training=training)

    # -- The mixed step ---------------------------------------------------------

    @property
    def _mixes_targets(self):
        """Whether the traced step changes the targets at all (static)."""
        return self.recipe is not None or self.label_smoothing > 0

    def sample_mix_params(self, batch_size, image_size=None, mask_shape=None):
        """Draws the `MixParams` of one batch with the current rates (an
        overridable hook; each call advances the random state).

        Args:
            batch_size: Number of examples, an int or scalar int tensor.
            image_size: The sizes the cut input is cut along: `(height,
                width)` of images, `(steps,)` of sequences; None if nothing
                is cut.
            mask_shape: The static dims of the cut input's every axis but
                the batch and the channels (FMix's masks).
        """
        sizes = None if image_size is None else InputSizes(tuple(image_size), mask_shape)

        def draw(seed, values):
            # A function of the seed and the rates alone: eager PyTorch
            # draws several steps at once.
            seed = backend.replica_seed(backend.as_seed(seed))
            return self.recipe.draw(batch_size, seed, self.rate_layout.unpack(values), sizes)

        return self._step_draws(draw, key=(batch_size, image_size, mask_shape))

    def _draw(self, batch_size, sizes):
        """The hook's draw, with the arguments an override takes (one from
        before `mask_shape` existed keeps working)."""
        hook = type(self).sample_mix_params
        if sizes is None:
            return self.sample_mix_params(batch_size)
        if hook is MixupModel.sample_mix_params or "mask_shape" in inspect.signature(hook).parameters:
            return self.sample_mix_params(batch_size, image_size=sizes.cut, mask_shape=sizes.cells)
        return self.sample_mix_params(batch_size, image_size=sizes.cut)

    def _begin_mixed_step(self, data):
        """Draws and applies the batch's mixing; the backend's `train_step`
        runs it before Keras's own step.

        Returns:
            None when the step is Keras's unchanged (nothing to mix or
            record), else `(MixedStep, data with the mixed inputs)`.
        """
        statistics = self.mixup_statistics
        if not self._mixes_targets and statistics is None:
            return None
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch_size = batch_size_of(x)
        mixes = self.recipe is not None
        manifold_step = mixes and self.mix_layer is not None
        cut_input = None
        if mixes and not manifold_step:
            checks.check_inputs_are_mixed(self, x, self.mixed_inputs)  # before any draw
            if self.recipe.pastes:
                cut_input = first_cut_input(x, self.mixed_inputs)
                self.recipe.check_input(cut_input, describe_inputs(x))
        if mixes:
            params = self._draw(batch_size, sizes_of(cut_input))
            if not self.__dict__.get("_warned_loss_smoothing"):
                warned = checks.warn_if_loss_smooths_labels(self.loss)
                object.__setattr__(self, "_warned_loss_smoothing", warned)
        else:  # targets only smoothed, or statistics to record
            params = identity_params(batch_size)
        mixed_x = x
        if manifold_step and self.__dict__.get("_mix_layer_hook") is None:
            object.__setattr__(self, "_mix_layer_hook", manifold.hook_mix_layer(
                self, self.mix_layer, self._traced_step
            ))
        elif mixes and not manifold_step:
            mixed_x = mix_inputs(x, params, self.mixed_inputs)
        if statistics is not None:
            clean_pred = ops.stop_gradient(self(x, training=False)) if statistics.clean_accuracy else None
            # The mixed batch as the model sees it (none with `mix_layer`).
            statistics.update(params, None if manifold_step else mixed_x, y, clean_pred)
        step = MixedStep(
            params, manifold_pending=manifold_step,
            cut_dims=None if cut_input is None else static_cut_dims(cut_input),
        )
        if mixes and self._transmix is not None:
            self._transmix.begin(self, cut_input, self._traced_step)
            step.wants_attention = True
        if mixes and self.regmixup_eta > 0:
            # One forward pass over the clean batch and its mixed copy (with
            # `mix_layer`, the hook mixes the second half of its outputs).
            mixed_x = regmixup.begin(step, x, mixed_x, batch_size)
        return step, keras.utils.pack_x_y_sample_weight(mixed_x, y, sample_weight)

    def _traced_step(self):
        """The `MixedStep` of the train step being traced, else None."""
        return self._step_context.current()

    # -- Loss and metrics ---------------------------------------------------------

    def _mixed_targets(self, y, y_pred, sample_weight, for_loss=False):
        """The `MixedTargets` of the batch being trained, else None.

        Computed once for the loss and the metrics where the backend runs
        both on the same tensors (TensorFlow, PyTorch); on JAX, afresh for
        each. With TransMix only the loss's targets take the attention's
        weights (on JAX it lives inside the gradient's trace, which the
        metrics run outside); the metrics' take the pasted areas.
        """
        step = self._traced_step()
        if step is None or y is None or not self._mixes_targets:
            return None
        manifold.check_layer_was_called(step, self.mix_layer)
        arguments = (y, y_pred, sample_weight)
        if step.targets is not None and all(a is b for a, b in zip(step.targets[0], arguments)):
            return step.targets[1]
        transmixed = step.wants_attention and for_loss
        params = self._transmix.step_params(step) if transmixed else step.params
        targets = mix_targets(
            y, y_pred, sample_weight, params, label_smoothing=self.label_smoothing,
            target_threshold=self.target_threshold, cut_dims=step.cut_dims,
        )
        if self.LOSS_VALUES_REACH_METRICS and not transmixed:
            step.targets = (arguments, targets)
        return targets

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        step = self._traced_step()
        if step is not None and step.clean_size is not None and y is not None:
            return regmixup.loss(
                step, y, y_pred, sample_weight, eta=self.regmixup_eta,
                loss_of_terms=lambda terms, pred, regularization: self._loss_of_terms(
                    x, terms, pred, training, regularization
                ),
                mixed_loss_terms=lambda *a: self._mixed_targets(*a, for_loss=True).loss_terms,
                label_smoothing=self.label_smoothing, target_threshold=self.target_threshold,
            )
        targets = self._mixed_targets(y, y_pred, sample_weight, for_loss=True)
        if targets is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        return self._loss_of_terms(x, targets.loss_terms, y_pred, training)

    def _loss_of_terms(self, x, terms, y_pred, training, regularization=True):
        """The sum of the compiled loss over `[(y, sample_weight)]` terms;
        with `regularization`, the first term goes through Keras's
        `compute_loss`, which adds the regularization and `add_loss` terms
        exactly once."""
        (first_y, first_w), *more_terms = terms
        if regularization:
            loss = super().compute_loss(x, first_y, y_pred, first_w, training=training)
        elif self._compile_loss is not None:
            loss = self._compile_loss(first_y, y_pred, first_w)
        else:
            return ops.zeros(())
        for term_y, term_w in more_terms:
            if self._compile_loss is not None:
                loss = loss + self._compile_loss(term_y, y_pred, term_w)
        return loss

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        step = self._traced_step()
        if step is not None and step.clean_size is not None and y is not None:
            # RegMixup: the metrics of the clean half, against its own targets.
            clean_pred = regmixup.clean_outputs(y_pred, step)
            return super().compute_metrics(x, y, clean_pred, sample_weight)
        targets = self._mixed_targets(y, y_pred, sample_weight)
        if targets is None:
            return super().compute_metrics(x, y, y_pred, sample_weight)
        return super().compute_metrics(x, targets.metric_y, y_pred, targets.metric_sample_weight)

    def summary(self, *args, expand_nested=None, print_fn=None, **kwargs):
        """Keras's summary (a wrapped model's layers expanded), then the
        mixing settings and the current rates."""
        if expand_nested is None:
            expand_nested = self.model is not None
        super().summary(*args, expand_nested=expand_nested, print_fn=print_fn, **kwargs)
        config = {k: v for k, v in self.mixup_config().items() if k != "mix"}
        shown = {"mix": self.mix, **config, **self.current_rates()}
        text = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        (print_fn or print)(f" Mixup: {text}")

    # -- Saving -----------------------------------------------------------------

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[SEED_STATE_KEY] = ops.convert_to_numpy(self.mixup_seed_generator.state)
        store[RATES_KEY] = ops.convert_to_numpy(self.mixup_rates)

    def load_own_variables(self, store):
        ours = (SEED_STATE_KEY, RATES_KEY)
        super().load_own_variables({k: store[k] for k in store.keys() if k not in ours})
        if SEED_STATE_KEY in store.keys():
            self.mixup_seed_generator.state.assign(store[SEED_STATE_KEY])
        if RATES_KEY in store.keys():
            self.mixup_rates.assign(self.rate_layout.loaded(
                store[RATES_KEY], ops.convert_to_numpy(self.mixup_rates)
            ))

    def mixup_config(self):
        """The mixing settings, as passed to the constructor (the flat
        arguments as the objects they build)."""
        return {
            "mix": None if self.mix is None else keras.saving.serialize_keras_object(self.mix),
            "label_smoothing": self.label_smoothing,
            "mix_layer": self.mix_layer,
            "mixed_inputs": None if self.mixed_inputs is None else list(self.mixed_inputs),
            "seed": self.seed,
            "target_threshold": self.target_threshold,
            "regmixup_eta": self.regmixup_eta,
            "transmix_layer": self.transmix_layer,
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


add_setting_attributes(MixupModel)


def __getattr__(name):
    # `FunctionalMixupModel` was defined here; it lives in its own module.
    if name == "FunctionalMixupModel":
        from mixup_model.functional import FunctionalMixupModel

        return FunctionalMixupModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
