"""The step methods: they change the train step itself, not the batch.

- `manifold`: mix a layer's activations instead of the inputs (manifold
  mixup), through a hook on the layer's `call`;
- `regmixup`: the loss of the clean batch and of its mixed copy from one
  forward pass over both (RegMixup);
- `transmix`: CutMix's label weights from the attention of the step's own
  forward pass (TransMix).

Each receives what it needs (the layer, the step being traced, the loss of
a list of terms) and knows no model class.
"""
