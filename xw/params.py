"""Study parameters: a YAML file under parameters/ loaded into typed, validated objects.

Every problem a user can make in the file (bad YAML, unknown key, wrong type, unknown
task or executor) fails at load time with the file, the key and the allowed values,
long before a GPU-hour is spent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xw.errors import ParameterError

NONE = "none"  # the baseline: no intermediate training
MULTI = "multi"  # all listed intermediate tasks mixed, sampled in proportion to size
DATA_SOURCES = ("miniworld", "local", "hub")
EXECUTORS = ("local", "slurm")
LABEL_PIECES = ("first", "first_nonempty")  # TrainConfig.tagging_label_piece


@dataclass(frozen=True)
class TrainConfig:
    """Hyperparameters of one training phase; every field is recorded with the results."""

    learning_rate: float = 5e-5
    batch_size: int = 32
    epochs: float = 3.0
    max_steps: int = 0  # >0 overrides epochs
    max_length: int = 128
    doc_stride: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    freeze_embeddings: bool = False
    bf16: bool = False
    max_train_examples: int = 0  # 0 = all
    max_eval_examples: int = 0  # 0 = all, per language
    eval_batch_size: int = 64
    # micro-batches per optimizer step: batch_size stays the effective batch and must divide by it
    grad_accumulation: int = 1
    # recompute each encoder layer's activations in backward: less memory, same training, ~1.3x compute
    activation_checkpointing: bool = False
    # tagging: which sub-token of a word carries its label: 'first' (XTREME, run_ner.py) or 'first_nonempty'
    # (skip a bare "▁" piece, which SentencePiece puts before every pre-split ja/zh word; README "Tagging")
    tagging_label_piece: str = "first"
    # mid-cell checkpoints (xw.train_state), for trainings that outlive a Slurm job: save every N optimizer
    # steps and/or every M minutes (0 = never), keeping the newest K; a finished training keeps none.
    # They change no number of the model, so cache keys leave them out (RESUME_FIELDS, numbers())
    checkpoint_every_steps: int = 0
    checkpoint_every_minutes: float = 0.0
    keep_checkpoints: int = 1

    def numbers(self) -> dict[str, Any]:
        """The fields that decide the trained model, hashed into cache keys: when to checkpoint does not."""
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in RESUME_FIELDS}


RESUME_FIELDS = ("checkpoint_every_steps", "checkpoint_every_minutes", "keep_checkpoints")


@dataclass(frozen=True)
class PretrainConfig:
    """MLM pretraining budget for mini-world ladders (equal steps for every size)."""

    steps: int = 1000
    batch_size: int = 64
    learning_rate: float = 1e-3
    max_length: int = 64
    # the corpus's cross-lingual signal (xw.miniworld.corpus): share of non-English documents that are
    # bilingual (document + its English translation), and share that are code-switched
    parallel: float = 0.1
    code_switch: float = 0.3


@dataclass(frozen=True)
class ModelScale:
    """One rung of the model ladder: a hub id, a local path, or a mini-world architecture."""

    name: str
    hub: str | None = None
    path: str | None = None
    revision: str | None = None  # a hub branch, tag or commit sha, passed to from_pretrained (hub scales only)
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    intermediate_size: int | None = None
    # hub / path rungs: keep only the checkpoint's first k layers (from_pretrained(..., num_hidden_layers=k)),
    # a depth ladder of one model (parameters/real-small.yaml); None = all of them
    layers_kept: int | None = None
    # shown when a path rung's folder is missing: how to make it (e.g. the build script); decides no model
    build_hint: str = ""
    # one training's resources (xw plan checks they fit, Slurm requests them); ranks = gpus (per node) x nodes
    gpus: int = 1
    nodes: int = 1
    activation_checkpointing: bool = False  # for every task of this rung

    @property
    def is_mini(self) -> bool:
        return self.hub is None and self.path is None

    @property
    def ranks(self) -> int:
        return self.gpus * self.nodes

    def identity(self) -> dict[str, Any]:
        """The fields that decide the model, hashed into cache keys: resources change no checkpoint."""
        fields = {k: v for k, v in dataclasses.asdict(self).items()
                  if k not in ("gpus", "nodes", "activation_checkpointing", "build_hint")}
        for newer in ("revision", "layers_kept"):  # unset: the key of a scale from before the field existed
            if fields[newer] is None:
                del fields[newer]
        return fields


@dataclass(frozen=True)
class DataSpec:
    source: str = "miniworld"
    root: str | None = None
    world_seed: int = 0
    # loader options, passed to every task's loader as DataConfig.options (names in DATA_OPTIONS)
    options: dict[str, Any] = field(default_factory=dict, hash=False)
    # hub dataset id -> pinned revision (branch, tag or commit sha), passed to datasets.load_dataset
    revisions: dict[str, str] = field(default_factory=dict, hash=False)

    def identity(self) -> dict[str, Any]:
        """The fields hashed into cache keys; no pins hash as before data.revisions existed (old keys stay valid)."""
        fields = dataclasses.asdict(self)
        if not fields["revisions"]:
            del fields["revisions"]
        return fields


# what each data source's loaders read from data.options, and the type of each value
DATA_OPTIONS: dict[str, dict[str, type]] = {
    "miniworld": {"train_size": int, "dev_size": int, "test_size": int},
    # XNLI / PAWS-X without an English train file: the share of the English dev set trained on
    "local": {"dev_train_fraction": float},
    "hub": {},
}


@dataclass(frozen=True)
class IntermediateRecipe:
    """What one phase-(ii) checkpoint trains on, and with which configs.

    ``member_configs`` decide how each member's examples are capped and featurised; ``loop`` is the
    config the training loop runs with (a single task's own; for ``multi`` the ``training.tasks.multi``
    override or the default). Phases, the cache key, the recorded hyperparameters and ``xw plan``
    all read this one object, so they cannot disagree.
    """

    name: str
    members: tuple[str, ...]
    member_configs: tuple[TrainConfig, ...]
    loop: TrainConfig | None  # None for the 'none' baseline: nothing is trained

    def record(self) -> dict[str, Any]:
        """The recipe as recorded with the results (and hashed into the checkpoint key)."""
        return {"members": list(self.members),
                "member_configs": {m: dataclasses.asdict(c) for m, c in zip(self.members, self.member_configs, strict=True)},
                "loop": dataclasses.asdict(self.loop) if self.loop else None}


@dataclass(frozen=True)
class SlurmConfig:
    partition: str | None = None
    gpus_per_node: int = 1  # 0: request no GPUs (CPU partition); 1: each rung's models.ladder gpus per node
    cpus_per_task: int = 8
    mem_gb: int = 64
    timeout_min: int = 720  # per job segment: a job that reaches it saves a checkpoint and is requeued
    max_requeues: int = 3  # requeues after reaching timeout_min (preemptions requeue without limit)


@dataclass(frozen=True)
class ExecutorSpec:
    kind: str = "local"
    workers: int = 1
    cell_timeout: int = 6 * 3600
    start_timeout: int = 120
    # local workers keep one Jupyter kernel for many cells, so torch/transformers are imported once
    # per worker instead of once per cell (5-10 s each); false: a fresh kernel for every cell
    reuse_kernels: bool = True
    gpu_memory_gb: float = 80.0  # one GPU as labelled (80 A100/H100, 141 H200): xw plan refuses a rung over it
    slurm: SlurmConfig = field(default_factory=SlurmConfig)


@dataclass(frozen=True)
class RetrievalConfig:
    """Which hidden layer to mean-pool, as a fraction of depth (xtreme PR 104; scales with size)."""

    layer_fraction: float = 0.5
    max_length: int = 128


@dataclass(frozen=True)
class TrackingConfig:
    """Where training curves go besides TensorBoard (always written): ``wandb`` and/or ``mlflow``
    (xw.tracking), optional extras, offline by default; ``project`` defaults to the study's name."""

    backends: tuple[str, ...] = ("tensorboard",)
    project: str | None = None
    mode: str = "offline"  # wandb.init(mode=...): offline, online or disabled (MLflow: MLFLOW_TRACKING_URI)


@dataclass(frozen=True)
class Study:
    name: str
    path: Path
    data: DataSpec
    family: str
    ladder: tuple[ModelScale, ...]
    pretrain: PretrainConfig
    intermediate_tasks: tuple[str, ...]
    target_tasks: tuple[str, ...]
    seeds: tuple[int, ...]
    training: TrainConfig
    task_training: dict[str, TrainConfig]
    retrieval: RetrievalConfig
    executor: ExecutorSpec
    languages: tuple[str, ...] | None = None
    output_root: Path = Path("outputs")
    description: str = ""
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    @property
    def output_dir(self) -> Path:
        return self.output_root / self.name

    def scale(self, name: str) -> ModelScale:
        for scale in self.ladder:
            if scale.name == name:
                return scale
        raise ParameterError(
            f"{self.path}: unknown scale {name!r}; the ladder has {[s.name for s in self.ladder]}"
        )

    def train_config(self, task: str) -> TrainConfig:
        return self.task_training.get(task, self.training)

    def intermediate_recipe(self, intermediate: str) -> IntermediateRecipe:
        """What intermediate ``intermediate`` trains on and how; the one answer every module uses."""
        if intermediate == NONE:
            return IntermediateRecipe(NONE, (), (), None)
        members = self.multi_task_members if intermediate == MULTI else (intermediate,)
        return IntermediateRecipe(intermediate, members, tuple(self.train_config(m) for m in members),
                                  self.train_config(intermediate))

    @property
    def multi_task_members(self) -> tuple[str, ...]:
        return tuple(t for t in self.intermediate_tasks if t not in (NONE, MULTI))


def config_hash(*parts: Any) -> str:
    """A short stable hash of what determines an artefact (used as cache key)."""

    def default(obj: Any) -> Any:
        if dataclasses.is_dataclass(obj):
            return dataclasses.asdict(obj)
        if isinstance(obj, Path):
            return str(obj)
        raise TypeError(f"cannot hash {type(obj)}")

    blob = json.dumps(parts, sort_keys=True, default=default)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
