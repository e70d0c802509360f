"""Study parameters: a YAML file under parameters/ loaded into typed, validated objects.

Every problem a user can make in the file (bad YAML, unknown key, wrong type, unknown
task or executor) fails at load time with the file, the key and the allowed values,
long before a GPU-hour is spent.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from xw.errors import ParameterError

NONE = "none"  # the baseline: no intermediate training
MULTI = "multi"  # all listed intermediate tasks mixed, sampled in proportion to size
DATA_SOURCES = ("miniworld", "local", "hub")
EXECUTORS = ("local", "slurm")


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

    @property
    def is_mini(self) -> bool:
        return self.hub is None and self.path is None


@dataclass(frozen=True)
class DataSpec:
    source: str = "miniworld"
    root: str | None = None
    world_seed: int = 0


@dataclass(frozen=True)
class SlurmConfig:
    partition: str | None = None
    gpus_per_node: int = 1
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

    @property
    def multi_task_members(self) -> tuple[str, ...]:
        return tuple(t for t in self.intermediate_tasks if t not in (NONE, MULTI))


def _fail(path: Path, key: str, message: str) -> ParameterError:
    if len(key) > 80:  # a key from a mangled file can be any length
        key = key[:77] + "..."
    return ParameterError(f"{path}: key '{key}': {message}")


# numbers that must be at least 1 (0 would divide by zero, never start, or time out at once)
_AT_LEAST_ONE = {
    TrainConfig: ("batch_size", "max_length", "doc_stride", "eval_batch_size"),
    PretrainConfig: ("steps", "batch_size", "max_length"),
    RetrievalConfig: ("max_length",),
    SlurmConfig: ("cpus_per_task", "timeout_min"),
    ExecutorSpec: ("workers", "cell_timeout", "start_timeout"),
}


def _check_ranges(path: Path, key: str, obj: Any) -> Any:
    for name in _AT_LEAST_ONE.get(type(obj), ()):
        if getattr(obj, name) < 1:
            raise _fail(path, f"{key}.{name}", f"must be at least 1, got {getattr(obj, name)!r}")
    if isinstance(obj, PretrainConfig):
        for name in ("parallel", "code_switch"):
            if not 0 <= getattr(obj, name) <= 1:
                raise _fail(path, f"{key}.{name}", f"must be between 0 and 1, got {getattr(obj, name)!r}")
        if obj.parallel + obj.code_switch > 1:
            raise _fail(path, f"{key}.code_switch", f"parallel + code_switch is a share of documents and must be "
                        f"at most 1, got {obj.parallel} + {obj.code_switch}")
    if isinstance(obj, TrainConfig):
        if obj.warmup_ratio > 1:
            raise _fail(path, f"{key}.warmup_ratio", f"must be between 0 and 1, got {obj.warmup_ratio!r}")
        if not obj.epochs and not obj.max_steps:
            raise _fail(path, f"{key}.epochs", "0 epochs and max_steps 0 would train nothing; set one of them")
    return obj


_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict = 3, 60, 60, 6, 6


def _show(value: Any) -> str:
    """A short repr for messages: a value from YAML can be huge (aliases) or self-referencing."""
    return _REPR.repr(value)


def _sorted_keys(keys: Any) -> list[str]:
    """Mapping keys as text, sorted (YAML keys may be ints, booleans or None)."""
    return sorted(str(k) for k in keys)


def _exists(path: Path) -> bool:
    """Path.exists that says no (instead of raising) for names no file system accepts."""
    try:
        return path.exists()
    except (OSError, ValueError):  # embedded NUL byte, name too long
        return False


_TYPE_NAMES = {int: "an integer", float: "a number", str: "a string", bool: "true/false", list: "a list"}


def _typed(path: Path, key: str, value: Any, kind: type) -> Any:
    """Check one scalar's type; ints are accepted where floats are expected, floats must be finite."""
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:  # YAML 1.1 reads 1e-4 as a string
            number = float(value)
        except (ValueError, OverflowError):
            number = None
        if number is not None:
            if not math.isfinite(number):
                raise _fail(path, key, f"expected a finite number, got {_show(value)}")
            return number
    if not ok:
        raise _fail(path, key, f"expected {_TYPE_NAMES.get(kind, kind.__name__)}, got {_show(value)}")
    return value


def _mapping(path: Path, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _fail(path, key, f"expected a mapping (key: value lines), got {_show(value)}")
    return value


def _dataclass_from(path: Path, key: str, cls: type, raw: Any, base: Any = None) -> Any:
    """Build a flat dataclass from a mapping, rejecting unknown keys and wrong types."""
    raw = _mapping(path, key, raw)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = _sorted_keys(set(raw) - set(fields))
    if unknown:
        raise _fail(path, f"{key}.{unknown[0]}", f"unknown key; allowed keys: {sorted(fields)}")
    if base is None:
        for name, f in fields.items():
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            if required and name not in raw:
                raise _fail(path, f"{key}.{name}", f"missing; allowed keys: {sorted(fields)}")
    values = {}
    for name, value in raw.items():
        f = fields[name]
        kind = {"int": int, "float": float, "str": str, "bool": bool}.get(
            str(f.type).replace(" | None", ""), None
        )
        if value is None and "None" in str(f.type):
            values[name] = None
        elif kind is None:
            values[name] = value
        else:
            values[name] = _typed(path, f"{key}.{name}", value, kind)
        if kind in (int, float) and values[name] is not None and values[name] < 0:
            raise _fail(path, f"{key}.{name}", f"must be >= 0, got {value!r}")
    if base is not None:
        return _check_ranges(path, key, dataclasses.replace(base, **values))
    return _check_ranges(path, key, cls(**values))


def _string_list(path: Path, key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value:
        raise _fail(path, key, f"expected a non-empty list, got {_show(value)}")
    for item in value:
        if not isinstance(item, str):
            raise _fail(path, key, f"expected a list of names, got item {_show(item)}")
    if len(set(value)) != len(value):
        raise _fail(path, key, f"duplicate entries in {_show(value)}")
    return tuple(value)


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


def load_study(path: str | Path, output_root: str | Path | None = None) -> Study:
    """Load and validate a study file; raise ParameterError naming file, key and fix."""
    path = Path(path)
    if not path.is_file():
        raise ParameterError(f"parameters file {path} not found; studies live in parameters/*.yaml")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ParameterError(f"{path}: not valid YAML: {err}") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{path}: not a text file (expected UTF-8 YAML)") from None
    except RecursionError:
        raise ParameterError(f"{path}: not valid YAML: nested too deeply") from None
    except OSError as err:
        raise ParameterError(f"{path}: cannot read it: {err.strerror or err}") from None
    return study_from_dict(raw, path, output_root)


def study_from_dict(raw: Any, path: Path, output_root: str | Path | None = None) -> Study:
    if not isinstance(raw, dict):
        raise ParameterError(f"{path}: expected a mapping of keys {list(TOP_LEVEL_KEYS)}, got {_show(raw)}")
    unknown = _sorted_keys(set(raw) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise _fail(path, unknown[0], f"unknown key; allowed keys: {list(TOP_LEVEL_KEYS)}")
    for required in ("study", "models", "intermediate_tasks", "target_tasks"):
        if required not in raw:
            raise _fail(path, required, "missing; every study file needs it (see parameters/demo.yaml)")

    name = _typed(path, "study", raw["study"], str)
    if not name or any(c in name for c in "/\\ ") or name.startswith("."):
        raise _fail(path, "study", f"must be a plain directory name, got {name!r}")

    data = _dataclass_from(path, "data", DataSpec, raw.get("data"))
    if data.source not in DATA_SOURCES:
        raise _fail(path, "data.source", f"unknown source {data.source!r}; allowed: {list(DATA_SOURCES)}")
    if data.source == "local":
        if not data.root:
            raise _fail(path, "data.root", "source 'local' needs data.root, the XTREME download folder")
        root = Path(data.root)
        if not root.is_absolute():
            root = (path.parent / root).resolve() if not _exists(root) else root.resolve()
        if not (_exists(root) and root.is_dir()):
            raise _fail(
                path,
                "data.root",
                f"data folder {root} does not exist; run XTREME's scripts/download_data.sh "
                "into it, or use data.source: hub",
            )
        data = dataclasses.replace(data, root=str(root))

    models = _mapping(path, "models", raw["models"])
    allowed_model_keys = {"family", "pretrain", "ladder"}
    unknown = _sorted_keys(set(models) - allowed_model_keys)
    if unknown:
        raise _fail(path, f"models.{unknown[0]}", f"unknown key; allowed keys: {sorted(allowed_model_keys)}")
    family = _typed(path, "models.family", models.get("family", "xlm-r"), str)
    pretrain = _dataclass_from(path, "models.pretrain", PretrainConfig, models.get("pretrain"))
    ladder_raw = models.get("ladder")
    if not isinstance(ladder_raw, list) or not ladder_raw:
        raise _fail(path, "models.ladder", "expected a non-empty list of model scales")
    ladder = []
    for i, entry in enumerate(ladder_raw):
        scale = _dataclass_from(path, f"models.ladder[{i}]", ModelScale, entry)
        where = f"models.ladder[{i}]"
        if not scale.name:
            raise _fail(path, f"{where}.name", "every scale needs a name")
        if scale.hub and scale.path:
            raise _fail(path, where, "give either hub or path, not both")
        if scale.is_mini:
            if data.source != "miniworld":
                raise _fail(path, where, "needs hub: <model id> or path: <checkpoint> (mini sizes need data.source: miniworld)")
            for arch_key in ("layers", "hidden", "heads"):
                if not getattr(scale, arch_key):
                    raise _fail(path, f"{where}.{arch_key}", "a mini-world scale needs layers, hidden and heads")
            if scale.hidden % scale.heads:
                raise _fail(path, f"{where}.heads", f"hidden {scale.hidden} is not divisible by heads {scale.heads}")
        if scale.path and not _exists(Path(scale.path)):
            raise _fail(path, f"{where}.path", f"checkpoint {scale.path} does not exist")
        ladder.append(scale)
    names = [s.name for s in ladder]
    if len(set(names)) != len(names):
        raise _fail(path, "models.ladder", f"duplicate scale names in {names}")

    intermediate = _string_list(path, "intermediate_tasks", raw["intermediate_tasks"])
    targets = _string_list(path, "target_tasks", raw["target_tasks"])
    _check_tasks(path, "intermediate_tasks", intermediate, ("intermediate", "both"), extra=(NONE, MULTI))
    _check_tasks(path, "target_tasks", targets, ("target", "both"))
    if MULTI in intermediate and len([t for t in intermediate if t not in (NONE, MULTI)]) < 2:
        raise _fail(path, "intermediate_tasks", "'multi' mixes the listed intermediate tasks; list at least two")

    seeds_raw = raw.get("seeds", [0])
    if not isinstance(seeds_raw, list) or not seeds_raw:
        raise _fail(path, "seeds", f"expected a non-empty list of integers, got {_show(seeds_raw)}")
    seeds = tuple(_typed(path, "seeds", s, int) for s in seeds_raw)
    for seed in seeds:
        if not 0 <= seed < 2**32:  # what torch, numpy and random all accept
            raise _fail(path, "seeds", f"a seed must be between 0 and 2**32 - 1, got {seed}")
    if len(set(seeds)) != len(seeds):
        raise _fail(path, "seeds", f"duplicate seeds in {list(seeds)}")

    training_raw = _mapping(path, "training", raw.get("training"))
    unknown = _sorted_keys(set(training_raw) - {"default", "tasks"})
    if unknown:
        raise _fail(path, f"training.{unknown[0]}", "unknown key; allowed keys: ['default', 'tasks']")
    training = _dataclass_from(path, "training.default", TrainConfig, training_raw.get("default"))
    task_training = {}
    for task, overrides in _mapping(path, "training.tasks", training_raw.get("tasks")).items():
        if task not in intermediate + targets:
            raise _fail(path, f"training.tasks.{_show(task)}",
                        f"not a task of this study; allowed: {list(intermediate + targets)}")
        task_training[task] = _dataclass_from(path, f"training.tasks.{task}", TrainConfig, overrides, base=training)

    retrieval = _dataclass_from(path, "retrieval", RetrievalConfig, raw.get("retrieval"))
    if not 0.0 <= retrieval.layer_fraction <= 1.0:
        raise _fail(path, "retrieval.layer_fraction", "must be between 0 (embeddings) and 1 (last layer)")

    executor_raw = dict(_mapping(path, "executor", raw.get("executor")))
    slurm = _dataclass_from(path, "executor.slurm", SlurmConfig, executor_raw.pop("slurm", None))
    executor = _dataclass_from(path, "executor", ExecutorSpec, executor_raw)
    executor = dataclasses.replace(executor, slurm=slurm)
    if executor.kind not in EXECUTORS:
        raise _fail(path, "executor.kind", f"unknown executor {executor.kind!r}; allowed: {list(EXECUTORS)}")
    if executor.workers < 1:
        raise _fail(path, "executor.workers", "must be at least 1")

    languages = raw.get("languages")
    if languages is not None:
        languages = _string_list(path, "languages", languages)

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
        output_root=Path(output_root) if output_root is not None else Path("outputs"),
        description=str(raw.get("description", "")),
    )


def _check_tasks(path: Path, key: str, names: tuple[str, ...], roles: tuple[str, ...], extra: tuple[str, ...] = ()) -> None:
    from xw.tasks import all_tasks

    registry = all_tasks()
    allowed = sorted(n for n, spec in registry.items() if spec.role in roles)
    for name in names:
        if name in extra:
            continue
        if name not in registry:
            raise _fail(path, key, f"unknown task {name!r}; allowed: {list(extra) + allowed}")
        if registry[name].role not in roles:
            raise _fail(path, key, f"task {name!r} is a {registry[name].role} task; allowed here: {list(extra) + allowed}")


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
