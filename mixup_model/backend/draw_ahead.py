"""Eager PyTorch: the draws of the next steps, computed at once.

Eager PyTorch runs each op of a step on its own, and a draw is a few hundred
small ops (Threefry's rounds, Marsaglia-Tsang, the permutation): about
1.5 ms per step on a CPU, whatever the batch. Because every draw is a pure
function of its step's seed `(seed, counter)` and the rates, the draws of
the next `n` steps are one vectorised call (`torch.vmap` over the `n`
seeds), and each step takes its row: the same draws as step by step (and
as a `torch.compile`d step, which draws in its graph). Partners, boxes and
switches are the same integers; a lambda may differ in its last bit,
because PyTorch's kernels round `sigmoid` (an `exp`) differently in the
vectorised body and the scalar tail of a tensor. A run is reproduced bit
for bit by the same run: the blocks follow from the steps taken.

A block of rows is only used while its inputs are the ones it was drawn
from. Each step still advances the seed state; a write to the state by
anything else (`BackupAndRestore`, `load_weights`, an `assign`) or to the
rates (a schedule, `model.alpha = ...`) is seen from the tensors' version
counters, on the host and without reading the device, and the next step
draws anew from the current values.
"""

import torch
import torch.utils._pytree as pytree

from mixup_model.backend.step_draws import StepDraws

# Rows per block: 1 after any change, doubling as blocks are used up, so a
# rate that changes every step costs one row per step, and a steady run
# draws once every `_MAX_ROWS` steps (fewer for large batches: a block holds
# at most `_MAX_EXAMPLES` examples' draws, bounding its memory).
_MAX_ROWS = 256
_MAX_EXAMPLES = 2**16
# ... and at most this many values (FMix's masks are a value per pixel).
_MAX_ELEMENTS = 2**24

# Marks a tensor's place in a draw's structure.
_TENSOR = object()


class DrawAhead(StepDraws):
    """`StepDraws` on PyTorch: in the compiled graph under `torch.compile`,
    else in blocks of future steps (`_Block`)."""

    def __init__(self, seed_generator, rates):
        super().__init__(seed_generator, rates)
        self._blocks = {}
        self._advances = 0
        self._written = self._written_version = None
        state = seed_generator.state.value
        # What `SeedGenerator.next()` adds, made once on the state's device
        # (`next()` makes it from numpy at every call: a host-to-device copy).
        self._increment = torch.tensor([0, 1], dtype=state.dtype, device=state.device)

    def __call__(self, sampler, key):
        state = self.seed_generator.state.value
        if torch.compiler.is_compiling():
            # In the graph: no Python state changes (each would be a guard
            # that fails at the next step, and a recompilation).
            return sampler(self._advance(state), self.rates.value)
        if self._written is not state or self._written_version != state._version:
            self._blocks.clear()  # the state was written by something else
        rates = self.rates.value
        block = self._blocks.get(key)
        row = None if block is None else block.row(self._advances, rates)
        if row is None:
            rows = 1 if block is None else block.next_rows(self._advances, rates)
            block = _Block(sampler, state, rates, rows, self._advances)
            self._blocks[key] = block
            row = 0
        with torch.no_grad():
            state.add_(self._increment)  # in place: one op, no copy
        self._advances += 1
        self._written, self._written_version = state, state._version
        return block.take(row)

    def _advance(self, state):
        """The step's seed; the state moves on, as `SeedGenerator.next()`."""
        seed = state * 1
        self.seed_generator.state.assign(seed + self._increment)
        return seed


class _Block:
    """The draws of `rows` consecutive steps from `state`, and what they
    were drawn from.

    A draw is a `MixParams`, whose regions nest tuples of tensors: its
    tensors are drawn in one `torch.vmap`, and the rest of its structure
    (the `None`s and Python values that say what was traced) is kept. A
    method chosen for the whole batch is read to the host once for the
    block, so that each step applies the chosen method alone.
    """

    def __init__(self, sampler, state, rates, rows, first_advance):
        self.rows = rows
        self.first_advance = first_advance
        self.rates = rates
        self.rates_version = rates._version
        with torch.no_grad():
            steps = torch.arange(rows, dtype=state.dtype, device=state.device)
            seeds = state.detach() + torch.stack([torch.zeros_like(steps), steps], dim=1)
            structure = []

            def tensors_of_draw(seed):
                params = sampler(seed, rates)
                method = params.method
                leaves, spec = pytree.tree_flatten(params._replace(method=None))
                structure.append(
                    (spec, [_TENSOR if isinstance(v, torch.Tensor) else v for v in leaves], method)
                )
                tensors = tuple(v for v in leaves if isinstance(v, torch.Tensor))
                return tensors + ((method,) if isinstance(method, torch.Tensor) else ())

            self.values = torch.vmap(tensors_of_draw)(seeds)
        self.spec, self.leaves, method = structure[0]
        self.method = method  # None, or a Python value of the draw's
        self.host_methods = None
        if isinstance(method, torch.Tensor):
            self.method = _TENSOR
            if self.values[-1].dim() == 1 and self.values[-1].device.type == "cpu":
                # The batch's method, one per step: read once for the block,
                # so each step applies the chosen one alone. (On a GPU the
                # read would wait for the device: there every method is
                # applied and each example selects its own, in the stream.)
                self.host_methods = self.values[-1].tolist()

    def _unchanged(self, rates):
        return rates is self.rates and rates._version == self.rates_version

    def row(self, advances, rates):
        """This step's row, or None if the block does not hold it."""
        row = advances - self.first_advance
        if 0 <= row < self.rows and self._unchanged(rates):
            return row
        return None

    def next_rows(self, advances, rates):
        """The next block's size: twice this one's if it was used up."""
        if self._unchanged(rates) and advances - self.first_advance == self.rows:
            examples = max(1, self.values[0][0].numel())  # one row's lambdas
            elements = max(1, sum(v[0].numel() for v in self.values))
            return max(1, min(2 * self.rows, _MAX_ROWS, _MAX_EXAMPLES // examples,
                              _MAX_ELEMENTS // elements))
        return 1

    def take(self, row):
        values = iter(self.values)
        leaves = [next(values)[row] if v is _TENSOR else v for v in self.leaves]
        method = self.method
        if self.host_methods is not None:
            method = self.host_methods[row]
        elif method is _TENSOR:
            method = self.values[-1][row]
        return pytree.tree_unflatten(leaves, self.spec)._replace(method=method)
