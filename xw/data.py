"""Loading a task's split for one language from the study's data source."""

from __future__ import annotations

import random
from pathlib import Path

from xw.params import Study
from xw.tasks import DataConfig, RetrievalSet, TaskSpec


def data_config(study: Study) -> DataConfig:
    """The study's data section as the loaders see it (options included: data.options in the file)."""
    return DataConfig(
        source=study.data.source,  # type: ignore[arg-type]
        root=Path(study.data.root) if study.data.root else None,
        world_seed=study.data.world_seed,
        cache_dir=study.output_root / "_cache" / "data",
        options=dict(study.data.options),
    )


def load_examples(study: Study, task: TaskSpec, split: str, language: str, limit: int = 0) -> list[dict]:
    """Examples as plain dicts in the task's canonical schema; ``limit`` takes a fixed random subset."""
    data = task.loader(split, language, data_config(study))
    examples = data.to_list() if hasattr(data, "to_list") else list(data)
    if limit and len(examples) > limit:
        rng = random.Random(0)  # the same subset for every seed and scale
        examples = [examples[i] for i in sorted(rng.sample(range(len(examples)), limit))]
    return examples


def load_retrieval(study: Study, task: TaskSpec, split: str, language: str) -> RetrievalSet:
    data = task.loader(split, language, data_config(study))
    if not isinstance(data, RetrievalSet):
        raise TypeError(f"task {task.name!r}: retrieval loader returned {type(data).__name__}")
    return data


def evaluation_languages(study: Study, task: TaskSpec) -> list[str]:
    if study.languages is None:
        return list(task.languages)
    return [lang for lang in task.languages if lang in study.languages]
