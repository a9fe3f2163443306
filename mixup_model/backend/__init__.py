"""What differs between Keras's backends, behind one small interface.

Everything else in `mixup_model` is `keras.ops` code. Each backend module
here provides the same names, chosen by `keras.backend.backend()` the way
Keras chooses its trainer:

- stateless random draws from a seed (`split`, `fold_in`, `uniform`,
  `uniform_int`, `log_gamma`) and `as_seed`, which turns a
  `keras.random.SeedGenerator` draw into that seed;
- `replica_seed`: a per-replica seed where replicas mix their own batches;
- `StepDraws`: how the step calls the sampler with its seed (on eager
  PyTorch, the draws of several steps at once);
- `conditional_in_graph(x)`: whether `ops.switch` on the tensor `x` stays
  in the compiled graph (not on PyTorch, which reads the index on the host,
  nor in eager JAX);
- `blend_rows`: `methods.mixup.blend` in the backend's own ops where Keras's
  per-op dispatch costs more than the arithmetic (eager PyTorch), or None;
- `TrainStep`: the mixin whose `train_step` matches the backend trainer's
  signature (JAX threads state through the step; TensorFlow and PyTorch
  assign variables).
"""

import keras

_BACKEND = keras.backend.backend()

if _BACKEND == "tensorflow":
    from mixup_model.backend import tensorflow as current
elif _BACKEND == "jax":
    from mixup_model.backend import jax as current
elif _BACKEND == "torch":
    from mixup_model.backend import torch as current
else:
    raise ImportError(
        "mixup_model runs on the TensorFlow, JAX and PyTorch backends of "
        f"Keras. Received: KERAS_BACKEND={_BACKEND!r}."
    )

NAME = _BACKEND
