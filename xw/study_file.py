"""Reading a study file's parsed YAML into the typed objects of xw.params, checking every key.

Why apart from xw.params: the schema (what a study is) is read by every layer; the checks (ranges,
allowed names, the source's data options) are needed only when a file is loaded (xw.study).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from xw.errors import ParameterError
from xw.params import (
    DATA_OPTIONS,
    DATA_SOURCES,
    EXECUTORS,
    LABEL_PIECES,
    MULTI,
    NONE,
    DataSpec,
    ExecutorSpec,
    ModelScale,
    PretrainConfig,
    RetrievalConfig,
    SlurmConfig,
    Study,
    TrackingConfig,
    TrainConfig,
)
from xw.tracking import BACKENDS, WANDB_MODES, missing_backends
from xw.validate import dataclass_from, exists, fail, mapping, show, sorted_keys, string_list, typed
from xw.validate import resolve_path as in_study_folder

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
    if isinstance(obj, SlurmConfig) and obj.max_requeues < 0:
        raise fail(path, f"{key}.max_requeues", f"must be 0 or more, got {obj.max_requeues!r}")
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
        if obj.keep_checkpoints < 1:
            raise fail(path, f"{key}.keep_checkpoints", f"must be at least 1 (the one to resume from), got "
                       f"{obj.keep_checkpoints!r}")
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
    "tracking",
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
    data = dataclasses.replace(data, options=_data_options(path, data.source, data.options),
                               revisions=_data_revisions(path, data.source, data.revisions))
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
        if scale.revision and not scale.hub:
            raise fail(path, f"{where}.revision", "a revision pins a hub model: give hub: <model id> with it")
        if scale.layers_kept is not None:
            if scale.is_mini:
                raise fail(path, f"{where}.layers_kept", "truncates a hub or path checkpoint; a mini-world scale "
                           "sets its depth with layers")
            if scale.layers_kept < 1:
                raise fail(path, f"{where}.layers_kept", f"must be at least 1 (layers of the checkpoint to keep), "
                           f"got {scale.layers_kept!r}")
        if scale.is_mini:
            if data.source != "miniworld":
                raise fail(path, where, "needs hub: <model id> or path: <checkpoint> (mini sizes need data.source: miniworld)")
            for arch_key in ("layers", "hidden", "heads"):
                if not getattr(scale, arch_key):
                    raise fail(path, f"{where}.{arch_key}", "a mini-world scale needs layers, hidden and heads")
            if scale.hidden % scale.heads:
                raise fail(path, f"{where}.heads", f"hidden {scale.hidden} is not divisible by heads {scale.heads}")
        if scale.path:  # absolute: cells run in notebooks/, not where the study was loaded; ~ and $VARS expanded
            scale = dataclasses.replace(scale, path=str(in_study_folder(path, os.path.expandvars(scale.path))))
            if not exists(Path(scale.path)):
                how = scale.build_hint or "relative paths are read from the study file's folder " + str(path.parent.resolve())
                raise fail(path, f"{where}.path", f"checkpoint {scale.path} does not exist ({how})")
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
        tracking=_tracking(path, raw.get("tracking"), name),
    )


def _tracking(path: Path, raw: Any, study: str) -> TrackingConfig:
    """tracking: which curve backends beside TensorBoard; a named one that is not installed fails here,
    before any training, with the pip command that installs it."""
    raw = dict(mapping(path, "tracking", raw))
    backends = string_list(path, "tracking.backends", raw.pop("backends", ["tensorboard"]))
    config = dataclass_from(path, "tracking", TrackingConfig, raw)
    for name in backends:
        if name not in BACKENDS:
            raise fail(path, "tracking.backends", f"unknown backend {name!r}; allowed: {list(BACKENDS)}")
    for name in missing_backends(backends):
        raise fail(path, "tracking.backends", f"{name!r} is not installed: pip install 'xw[{name}]' "
                   f"(or remove {name} from tracking.backends)")
    if config.mode not in WANDB_MODES:
        raise fail(path, "tracking.mode", f"unknown mode {config.mode!r}; allowed: {list(WANDB_MODES)}")
    if config.project is not None and not config.project.strip():
        raise fail(path, "tracking.project", "must be a non-empty name (or leave it out: the study's name)")
    return dataclasses.replace(config, backends=backends, project=config.project or study)


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


def _data_revisions(path: Path, source: str, raw: Any) -> dict[str, str]:
    """data.revisions: hub dataset id -> the branch, tag or commit sha to load (datasets.load_dataset(revision=))."""
    from difflib import get_close_matches

    from xw.xtreme.hub import HUB_DATASETS

    revisions = mapping(path, "data.revisions", raw)
    if revisions and source != "hub":
        raise fail(path, "data.revisions", f"pins hub datasets, but data.source is {source!r}: set data.source: hub, "
                   "or remove data.revisions (local files are recorded by content hash)")
    out = {}
    for dataset, revision in revisions.items():
        if dataset not in HUB_DATASETS:
            close = get_close_matches(str(dataset), HUB_DATASETS, 1, 0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise fail(path, f"data.revisions.{dataset}", f"not a hub dataset xw reads; {hint}known: {list(HUB_DATASETS)}")
        if not isinstance(revision, str) or not revision.strip() or any(c.isspace() for c in revision):
            raise fail(path, f"data.revisions.{dataset}", f"must be a branch, tag or commit sha (one word, quoted "
                       f"if YAML would read it as a number), got {revision!r}")
        out[str(dataset)] = revision
    return out
