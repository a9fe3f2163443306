"""Recording `MixupStatistics` from the train step: the part of a
`MixupModel` that `MixupTensorBoard` switches on and off."""


class StatisticsRecording:
    """A `MixupModel` mixin: which `MixupStatistics` the train step records
    (`mixup_statistics`), and a traced step kept per statistics object, so
    that switching between them does not retrace."""

    @property
    def mixup_statistics(self):
        """The `MixupStatistics` recorded by the train step, or None."""
        return self.__dict__.get("_mixup_statistics")

    def set_mixup_statistics(self, statistics):
        """Starts (or with None, stops) recording `MixupStatistics`
        (`mixup_model.MixupTensorBoard` calls this). The train step is
        traced once per statistics object and `compile`; the statistics are
        never saved with the model."""
        traced = self.__dict__.setdefault("_traced_train_functions", {})
        # Keras makes a new compile config at each `compile()`, which also
        # drops its traced step: a step cached under another one is stale.
        compiled_as = getattr(self, "_compile_config", None)
        current = self.mixup_statistics
        if self.train_function is not None:
            traced[id(current)] = (current, compiled_as, self.train_function)
        object.__setattr__(self, "_mixup_statistics", statistics)
        cached = traced.get(id(statistics))
        fresh = cached is not None and cached[0] is statistics and cached[1] is compiled_as
        self.train_function = cached[2] if fresh else None
