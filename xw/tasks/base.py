"""Task definitions and the registry: adding a task is one `register(TaskSpec(...))`.

Why: phases, kernels and the grid only ever see a :class:`TaskSpec`, so a task's data source,
label set and metric are declared once here and nowhere else. Every loader returns examples in
its kind's canonical schema (see :mod:`xw.tasks.kinds`), so featurisation, training and metrics
never look at where the data came from:

- classification: columns ``text`` (str), optional ``text_pair`` (str), ``label`` (int)
- tagging: ``tokens`` (list[str]), ``tags`` (list[int], indices into ``label_names``)
- qa: ``id`` (str), ``context`` (str), ``question`` (str),
  ``answers`` ({"text": list[str], "answer_start": list[int]}; empty lists = unanswerable)
- multiple_choice: ``context`` (str), ``choices`` (list[str]), ``label`` (int)
- retrieval: a :class:`RetrievalSet` (not a Dataset): two sides and the gold pairs

A name is registered once; :func:`override` replaces tasks for the length of a ``with`` block.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xw.errors import DuplicateTaskError, UnknownTaskError
from xw.params import Study
from xw.tasks.kinds import KINDS, TaskKind

Kind = Literal["classification", "tagging", "qa", "multiple_choice", "retrieval"]
Role = Literal["target", "intermediate", "both"]


@dataclass(frozen=True)
class DataConfig:
    """Where task data comes from: ``local`` files under ``root``, the HF ``hub``, or the ``miniworld``."""

    source: Literal["local", "hub", "miniworld"] = "miniworld"
    root: Path | None = None
    world_seed: int = 0
    cache_dir: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    revisions: dict[str, str] = field(default_factory=dict)  # hub dataset id -> pinned revision (data.revisions)


def data_config(study: Study) -> DataConfig:
    """The study's data section as the loaders see it (options and hub pins included)."""
    return DataConfig(
        source=study.data.source,  # type: ignore[arg-type]
        root=Path(study.data.root) if study.data.root else None,
        world_seed=study.data.world_seed,
        cache_dir=study.output_root / "_cache" / "data",
        options=dict(study.data.options),
        revisions=dict(study.data.revisions),
    )


@dataclass
class RetrievalSet:
    """Bitext retrieval data for one language pair (source language -> English).

    ``gold`` holds (source_id, target_id) pairs. Tatoeba-style sets are line-aligned
    (gold = identity); BUCC-style sets have distractors and fewer gold pairs.
    """

    source_ids: list[str]
    source_texts: list[str]
    target_ids: list[str]
    target_texts: list[str]
    gold: list[tuple[str, str]]


# loader(split, language, data_config) -> datasets.Dataset (or RetrievalSet for retrieval tasks)
Loader = Callable[[str, str, DataConfig], Any]
# label_names_loader(data_config) -> label names, for tasks whose label set comes from the data (CCG)
LabelNamesLoader = Callable[[DataConfig], tuple[str, ...]]


@dataclass(frozen=True)
class TaskSpec:
    """Everything xw needs to know about a task; the loader is the only code."""

    name: str
    kind: Kind
    family: str  # moderator for the analysis: classification / tagging / qa / retrieval / ...
    role: Role
    languages: tuple[str, ...]  # evaluation languages (targets) or ("en",) (intermediate)
    metric: str  # key into xw.metrics.METRICS
    loader: Loader
    label_names: tuple[str, ...] = ()
    train_split: str | None = "train"
    eval_split: str = "test"  # split with real labels used for zero-shot evaluation
    dev_split: str | None = "dev"  # e.g. BUCC threshold selection
    eval_split_by_language: dict[str, str] = field(default_factory=dict)
    # the evaluation split per data source where they differ (MLQA: hub has XTREME's test, local only dev)
    eval_split_by_source: dict[str, str] = field(default_factory=dict)
    pair: bool = False  # classification with text_pair
    primary_metric: str = ""  # which of the metric's outputs the analysis uses (e.g. "f1")
    data_hint: str = ""  # how a user gets the data; shown when it is missing
    description: str = ""
    label_names_loader: LabelNamesLoader | None = None  # label set read from the data when label_names is ()
    metric_needs_language: bool = False  # the metric is called with the evaluation language (MLQA's normalisation)
    # Tatoeba-style retrieval: which side queries the other's index for the primary "accuracy". "source"
    # (the non-English side queries English) is the mini-world's; XTREME's Tatoeba queries with English: "target".
    retrieval_query: Literal["source", "target"] = "source"

    def eval_split_for(self, language: str, source: str = "") -> str:
        """The split a language is evaluated on: a per-language override, then the source's, then eval_split."""
        if language in self.eval_split_by_language:
            return self.eval_split_by_language[language]
        return self.eval_split_by_source.get(source, self.eval_split)

    @property
    def task_kind(self) -> TaskKind:
        """The object of this task's kind (``kind`` is its name): schema, trained or not, token counts."""
        return KINDS[self.kind]

    @property
    def num_labels(self) -> int:
        return len(self.label_names)


def label_names_of(task: TaskSpec, config: DataConfig) -> tuple[str, ...]:
    """The task's label names: the fixed ones, or those its ``label_names_loader`` reads from the data.

    CCG supertagging (jiant's setup) has no fixed tag set: it is every category of the training split.
    """
    if task.label_names or task.label_names_loader is None:
        return task.label_names
    return tuple(task.label_names_loader(config))


def with_label_names(task: TaskSpec, config: DataConfig) -> TaskSpec:
    """The task with its label names resolved, so heads and metrics see a fixed label set."""
    names = label_names_of(task, config)
    return task if names == task.label_names else dataclasses.replace(task, label_names=names)


_REGISTRY: dict[str, TaskSpec] = {}


def _check_kind(spec: TaskSpec) -> None:
    if spec.kind not in KINDS:
        raise ValueError(f"task {spec.name!r}: kind {spec.kind!r} is not one of {tuple(KINDS)}")


def register(spec: TaskSpec) -> TaskSpec:
    """Add a task; a name already registered is refused (use :func:`override` to replace one on purpose)."""
    _check_kind(spec)
    if spec.name in _REGISTRY:
        existing = _REGISTRY[spec.name]
        raise DuplicateTaskError(
            f"task {spec.name!r} is already registered (a {existing.kind} {existing.role} task); give the new "
            "task another name, or replace it for a block with `with xw.tasks.override(spec): ...`."
        )
    _REGISTRY[spec.name] = spec
    return spec


@contextlib.contextmanager
def override(*specs: TaskSpec) -> Iterator[tuple[TaskSpec, ...]]:
    """Register ``specs`` for the ``with`` block, replacing same-named tasks; afterwards the registry is as before.

    Built-in tasks are loaded first, so overriding one of them is not undone by their lazy registration.
    """
    _ensure_builtin_tasks()
    for spec in specs:
        _check_kind(spec)
    previous = {spec.name: _REGISTRY.get(spec.name) for spec in specs}
    try:
        for spec in specs:
            _REGISTRY[spec.name] = spec
        yield specs
    finally:
        for name, spec in previous.items():
            if spec is None:
                _REGISTRY.pop(name, None)
            else:
                _REGISTRY[name] = spec


def get_task(name: str) -> TaskSpec:
    _ensure_builtin_tasks()
    if name not in _REGISTRY:
        raise UnknownTaskError(
            f"unknown task {name!r}; registered tasks: {', '.join(sorted(_REGISTRY))}. "
            "Add one with xw.tasks.register(TaskSpec(...))."
        )
    return _REGISTRY[name]


def all_tasks() -> dict[str, TaskSpec]:
    _ensure_builtin_tasks()
    return dict(_REGISTRY)


def _ensure_builtin_tasks() -> None:
    """Import the modules that register built-in tasks (lazily, to keep imports cheap)."""
    import importlib

    for module in ("xw.miniworld.tasks", "xw.xtreme.tasks"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:  # a task family not built yet
            if not (err.name and module.startswith(err.name)):
                raise
