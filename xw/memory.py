"""Memory per GPU of one training step: model states sharded over the ranks, plus activations.

Why a model and not a measurement: `xw plan` must say before a run, and without a GPU, whether a rung
fits the GPUs it declares. The constants reproduce issue 16's table, measured from the real XLM-R
configs at sequence 256 x batch 32 with bf16 activations (base 3.4 / 0.6 GiB of activations without /
with checkpointing, large 9.0 / 1.1, XL 33.8 / 3.8, XXL 72.0 / 7.5; tests/test_memory.py):

- states: 16 bytes per parameter (fp32 master weights 4, fp32 gradients 4, AdamW's two fp32 moments 8),
  sharded evenly over the ranks (FSDP2 shards all three).
- activations without checkpointing: 48 bytes per token, hidden unit and layer (24 bf16 values). One
  constant fits all four rungs although heads x sequence / hidden differs (4 for base, 2 for XXL), so
  there is no s x s attention-score term: SDPA keeps no score matrix for backward.
- with activation checkpointing: each layer keeps only its input (4 bytes per token and hidden unit:
  the residual stream leaves LayerNorm in fp32 under autocast), and one layer at a time is recomputed
  with its full 48 bytes.

Not counted (the reserve below covers them): the CUDA context, allocator fragmentation, FSDP's gathered
unit, the task head and embedding outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

GIB = 2**30
STATE_BYTES_PER_PARAMETER = 16
ACTIVATION_BYTES = 48  # per token, hidden unit and layer, kept for backward
CHECKPOINT_BYTES = 4  # per token, hidden unit and checkpointed layer: its fp32 input
USABLE_FRACTION = 0.9  # of a GPU's memory; the rest for what the model does not count


def state_bytes(parameters: int, ranks: int = 1) -> float:
    """Weights, gradients and AdamW moments held by one rank."""
    return STATE_BYTES_PER_PARAMETER * parameters / ranks


def activation_bytes(tokens: float, hidden: int, layers: int, checkpointing: bool) -> float:
    """Activations kept for backward for ``tokens`` tokens (batch x sequence length) on one rank."""
    if checkpointing:
        return tokens * hidden * (CHECKPOINT_BYTES * layers + ACTIVATION_BYTES)
    return tokens * hidden * layers * ACTIVATION_BYTES


@dataclass(frozen=True)
class RungMemory:
    """One rung's estimate per GPU, in bytes, both ways, and which way it trains."""

    states: float
    activations_plain: float
    activations_checkpointed: float
    checkpointing: bool

    @property
    def total(self) -> float:
        return self.states + (self.activations_checkpointed if self.checkpointing else self.activations_plain)


def rung_memory(parameters: int, hidden: int, layers: int, tokens_per_step: float, ranks: int,
                checkpointing: bool) -> RungMemory:
    """Memory per GPU when ``tokens_per_step`` tokens (one micro-batch of the whole training) are split
    evenly over ``ranks`` ranks that also shard the model states."""
    tokens = tokens_per_step / ranks
    return RungMemory(state_bytes(parameters, ranks), activation_bytes(tokens, hidden, layers, False),
                      activation_bytes(tokens, hidden, layers, True), checkpointing)


def usable_bytes(gpu_memory_gb: float) -> float:
    """What an estimate may use of one GPU labelled ``gpu_memory_gb`` (NVIDIA's 80 GB cards hold 80 GiB)."""
    return USABLE_FRACTION * gpu_memory_gb * GIB


def ranks_needed(parameters: int, hidden: int, layers: int, tokens_per_step: float, checkpointing: bool,
                 gpu_memory_gb: float, allowed: list[int]) -> int | None:
    """The fewest ranks among ``allowed`` (those that split every batch) whose estimate fits; None if none."""
    for ranks in sorted(allowed):
        memory = rung_memory(parameters, hidden, layers, tokens_per_step, ranks, checkpointing)
        if memory.total <= usable_bytes(gpu_memory_gb):
            return ranks
    return None
