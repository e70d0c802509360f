"""Study parameters: a YAML file under parameters/ loaded into typed, validated objects.

Every problem a user can make in the file (bad YAML, unknown key, wrong type, unknown
task or executor) fails at load time with the file, the key and the allowed values,
long before a GPU-hour is spent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xw.errors import ParameterError
from xw.validate import dataclass_from, exists, fail, mapping, show, sorted_keys, string_list, typed
from xw.validate import resolve_path as in_study_folder

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
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    intermediate_size: int | None = None
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
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in ("gpus", "nodes", "activation_checkpointing")}


@dataclass(frozen=True)
class DataSpec:
    source: str = "miniworld"
    root: str | None = None
    world_seed: int = 0
    # loader options, passed to every task's loader as DataConfig.options (names in DATA_OPTIONS)
    options: dict[str, Any] = field(default_factory=dict, hash=False)


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
    timeout_min: int = 720


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


# numbers that must be at least 1 (0 would divide by zero, never start, or time out at once)
_AT_LEAST_ONE = {
    TrainConfig: ("batch_size", "max_length", "doc_stride", "eval_batch_size", "grad_accumulation"),
    PretrainConfig: ("steps", "batch_size", "max_length"),
    RetrievalConfig: ("max_length",),
    SlurmConfig: ("cpus_per_task", "timeout_min"),
    ExecutorSpec: ("workers", "cell_timeout", "start_timeout", "gpu_memory_gb"),
    ModelScale: ("gpus", "nodes"),
}


def _check_ranges(path: Path, key: str, obj: Any) -> Any:
    for name in _AT_LEAST_ONE.get(type(obj), ()):
        if getattr(obj, name) < 1:
            raise fail(path, f"{key}.{name}", f"must be at least 1, got {getattr(obj, name)!r}")
    if isinstance(obj, PretrainConfig):
        for name in ("parallel", "code_switch"):
            if not 0 <= getattr(obj, name) <= 1:
                raise fail(path, f"{key}.{name}", f"must be between 0 and 1, got {getattr(obj, name)!r}")
        if obj.parallel + obj.code_switch > 1:
            raise fail(path, f"{key}.code_switch", f"parallel + code_switch is a share of documents and must be "
                        f"at most 1, got {obj.parallel} + {obj.code_switch}")
    if isinstance(obj, TrainConfig):
        if obj.warmup_ratio > 1:
            raise fail(path, f"{key}.warmup_ratio", f"must be between 0 and 1, got {obj.warmup_ratio!r}")
        if obj.tagging_label_piece not in LABEL_PIECES:
            raise fail(path, f"{key}.tagging_label_piece", f"unknown rule {obj.tagging_label_piece!r}; allowed: "
                       f"{list(LABEL_PIECES)}")
        if not obj.epochs and not obj.max_steps:
            raise fail(path, f"{key}.epochs", "0 epochs and max_steps 0 would train nothing; set one of them")
        if obj.batch_size % obj.grad_accumulation:
            raise fail(path, f"{key}.grad_accumulation", f"batch_size {obj.batch_size} is the effective batch and "
                        f"must split evenly into {obj.grad_accumulation} micro-batches")
    return obj


def _checked(path: Path, key: str, cls: type, raw: Any, base: Any = None) -> Any:
    """One config object from its mapping: types (xw.validate), then the ranges this module knows."""
    return _check_ranges(path, key, dataclass_from(path, key, cls, raw, base))


TOP_LEVEL_KEYS = (
    "study",
    "description",
    "data",
    "models",
    "intermediate_tasks",
    "target_tasks",
    "seeds",
    "training",
    "retrieval",
    "executor",
    "languages",
)


def parse_study(raw: Any, path: Path, output_root: str | Path | None, task_roles: Mapping[str, str]) -> Study:
    """Validate a study's parsed YAML into a Study; ``task_roles`` (task name -> role) is the task registry's
    view, passed in because this module sits below the tasks (xw.study passes the real registry)."""
    if not isinstance(raw, dict):
        raise ParameterError(f"{path}: expected a mapping of keys {list(TOP_LEVEL_KEYS)}, got {show(raw)}")
    unknown = sorted_keys(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise fail(path, unknown[0], f"unknown key; allowed keys: {list(TOP_LEVEL_KEYS)}")
    for required in ("study", "models", "intermediate_tasks", "target_tasks"):
        if required not in raw:
            raise fail(path, required, "missing; every study file needs it (see parameters/demo.yaml)")

    name = typed(path, "study", raw["study"], str)
    if not name or any(c in name for c in "/\\ ") or name.startswith("."):
        raise fail(path, "study", f"must be a plain directory name, got {name!r}")

    data = _checked(path, "data", DataSpec, raw.get("data"))
    if data.source not in DATA_SOURCES:
        raise fail(path, "data.source", f"unknown source {data.source!r}; allowed: {list(DATA_SOURCES)}")
    data = dataclasses.replace(data, options=_data_options(path, data.source, data.options))
    if data.source == "local":
        if not data.root:
            raise fail(path, "data.root", "source 'local' needs data.root, the XTREME download folder")
        root = in_study_folder(path, data.root)
        if not (exists(root) and root.is_dir()):
            raise fail(
                path,
                "data.root",
                f"data folder {root} does not exist; run XTREME's scripts/download_data.sh "
                "into it, or use data.source: hub",
            )
        data = dataclasses.replace(data, root=str(root))

    models = mapping(path, "models", raw["models"])
    allowed_model_keys = {"family", "pretrain", "ladder"}
    unknown = sorted_keys(set(models) - allowed_model_keys)
    if unknown:
        raise fail(path, f"models.{unknown[0]}", f"unknown key; allowed keys: {sorted(allowed_model_keys)}")
    family = typed(path, "models.family", models.get("family", "xlm-r"), str)
    pretrain = _checked(path, "models.pretrain", PretrainConfig, models.get("pretrain"))
    ladder_raw = models.get("ladder")
    if not isinstance(ladder_raw, list) or not ladder_raw:
        raise fail(path, "models.ladder", "expected a non-empty list of model scales")
    ladder = []
    for i, entry in enumerate(ladder_raw):
        scale = _checked(path, f"models.ladder[{i}]", ModelScale, entry)
        where = f"models.ladder[{i}]"
        if not scale.name:
            raise fail(path, f"{where}.name", "every scale needs a name")
        if scale.hub and scale.path:
            raise fail(path, where, "give either hub or path, not both")
        if scale.is_mini:
            if data.source != "miniworld":
                raise fail(path, where, "needs hub: <model id> or path: <checkpoint> (mini sizes need data.source: miniworld)")
            for arch_key in ("layers", "hidden", "heads"):
                if not getattr(scale, arch_key):
                    raise fail(path, f"{where}.{arch_key}", "a mini-world scale needs layers, hidden and heads")
            if scale.hidden % scale.heads:
                raise fail(path, f"{where}.heads", f"hidden {scale.hidden} is not divisible by heads {scale.heads}")
        if scale.path:  # absolute: cells run in notebooks/, not where the study was loaded
            scale = dataclasses.replace(scale, path=str(in_study_folder(path, scale.path)))
            if not exists(Path(scale.path)):
                raise fail(path, f"{where}.path", f"checkpoint {scale.path} does not exist (relative paths are "
                           f"read from the study file's folder {path.parent.resolve()})")
        ladder.append(scale)
    names = [s.name for s in ladder]
    if len(set(names)) != len(names):
        raise fail(path, "models.ladder", f"duplicate scale names in {names}")

    intermediate = string_list(path, "intermediate_tasks", raw["intermediate_tasks"])
    targets = string_list(path, "target_tasks", raw["target_tasks"])
    _check_tasks(path, "intermediate_tasks", intermediate, task_roles, ("intermediate", "both"), extra=(NONE, MULTI))
    _check_tasks(path, "target_tasks", targets, task_roles, ("target", "both"))
    if MULTI in intermediate and len([t for t in intermediate if t not in (NONE, MULTI)]) < 2:
        raise fail(path, "intermediate_tasks", "'multi' mixes the listed intermediate tasks; list at least two")

    seeds_raw = raw.get("seeds", [0])
    if not isinstance(seeds_raw, list) or not seeds_raw:
        raise fail(path, "seeds", f"expected a non-empty list of integers, got {show(seeds_raw)}")
    seeds = tuple(typed(path, "seeds", s, int) for s in seeds_raw)
    for seed in seeds:
        if not 0 <= seed < 2**32:  # what torch, numpy and random all accept
            raise fail(path, "seeds", f"a seed must be between 0 and 2**32 - 1, got {seed}")
    if len(set(seeds)) != len(seeds):
        raise fail(path, "seeds", f"duplicate seeds in {list(seeds)}")

    training_raw = mapping(path, "training", raw.get("training"))
    unknown = sorted_keys(set(training_raw) - {"default", "tasks"})
    if unknown:
        raise fail(path, f"training.{unknown[0]}", "unknown key; allowed keys: ['default', 'tasks']")
    training = _checked(path, "training.default", TrainConfig, training_raw.get("default"))
    task_training = {}
    for task, overrides in mapping(path, "training.tasks", training_raw.get("tasks")).items():
        if task not in intermediate + targets:
            raise fail(path, f"training.tasks.{task}",
                        f"not a task of this study; allowed: {list(intermediate + targets)}")
        task_training[task] = _checked(path, f"training.tasks.{task}", TrainConfig, overrides, base=training)

    retrieval = _checked(path, "retrieval", RetrievalConfig, raw.get("retrieval"))
    if not 0.0 <= retrieval.layer_fraction <= 1.0:
        raise fail(path, "retrieval.layer_fraction", "must be between 0 (embeddings) and 1 (last layer)")

    executor_raw = dict(mapping(path, "executor", raw.get("executor")))
    slurm = _checked(path, "executor.slurm", SlurmConfig, executor_raw.pop("slurm", None))
    executor = _checked(path, "executor", ExecutorSpec, executor_raw)
    executor = dataclasses.replace(executor, slurm=slurm)
    if executor.kind not in EXECUTORS:
        raise fail(path, "executor.kind", f"unknown executor {executor.kind!r}; allowed: {list(EXECUTORS)}")
    if executor.workers < 1:
        raise fail(path, "executor.workers", "must be at least 1")

    languages = raw.get("languages")
    if languages is not None:
        languages = string_list(path, "languages", languages)

    return Study(
        name=name,
        path=path,
        data=data,
        family=family,
        ladder=tuple(ladder),
        pretrain=pretrain,
        intermediate_tasks=intermediate,
        target_tasks=targets,
        seeds=seeds,
        training=training,
        task_training=task_training,
        retrieval=retrieval,
        executor=executor,
        languages=languages,
        output_root=Path(output_root if output_root is not None else "outputs").resolve(),
        description=str(raw.get("description", "")),
    )


def _check_tasks(path: Path, key: str, names: tuple[str, ...], task_roles: Mapping[str, str],
                 roles: tuple[str, ...], extra: tuple[str, ...] = ()) -> None:
    allowed = sorted(n for n, role in task_roles.items() if role in roles)
    for name in names:
        if name in extra:
            continue
        if name not in task_roles:
            raise fail(path, key, f"unknown task {name!r}; allowed: {list(extra) + allowed}")
        if task_roles[name] not in roles:
            raise fail(path, key, f"task {name!r} is a {task_roles[name]} task; allowed here: {list(extra) + allowed}")


def _data_options(path: Path, source: str, raw: Any) -> dict[str, Any]:
    """data.options: only the names the source's loaders read, each of its type."""
    allowed = DATA_OPTIONS[source]
    options = {}
    for name, value in mapping(path, "data.options", raw).items():
        if name not in allowed:
            raise fail(path, f"data.options.{name}",
                       f"unknown option for data.source {source!r}; allowed: {sorted(allowed) or 'none'}")
        options[name] = typed(path, f"data.options.{name}", value, allowed[name])
    if "dev_train_fraction" in options and not 0 < options["dev_train_fraction"] < 1:
        raise fail(path, "data.options.dev_train_fraction",
                   f"must be between 0 and 1 (exclusive), got {options['dev_train_fraction']!r}")
    for name in ("train_size", "dev_size", "test_size"):
        if name in options and options[name] < 1:
            raise fail(path, f"data.options.{name}", f"must be at least 1, got {options[name]!r}")
    return options


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
