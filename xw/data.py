"""Loading a task's split for one language from the study's data source."""

from __future__ import annotations

import random

from xw.params import Study
from xw.tasks import RetrievalSet, TaskSpec
from xw.tasks.base import data_config  # where the cache keys (xw.checkpoints) also get it


def load_examples(study: Study, task: TaskSpec, split: str, language: str, limit: int = 0) -> list[dict]:
    """Examples as plain dicts in the task's canonical schema; ``limit`` takes a fixed random subset."""
    data = task.loader(split, language, data_config(study))
    examples = data.to_list() if hasattr(data, "to_list") else list(data)
    if limit and len(examples) > limit:
        rng = random.Random(0)  # the same subset for every seed and scale
        examples = [examples[i] for i in sorted(rng.sample(range(len(examples)), limit))]
    return examples


def load_retrieval(study: Study, task: TaskSpec, split: str, language: str, limit: int = 0) -> RetrievalSet:
    """One language pair; ``limit`` (the task's ``max_eval_examples``) keeps a fixed random subsample."""
    data = task.loader(split, language, data_config(study))
    if not isinstance(data, RetrievalSet):
        raise TypeError(f"task {task.name!r}: retrieval loader returned {type(data).__name__}")
    return subsample_retrieval(data, limit) if limit and len(data.source_ids) > limit else data


def subsample_retrieval(data: RetrievalSet, limit: int) -> RetrievalSet:
    """``limit`` source sentences (the same for every seed and scale), the targets gold for them, and the
    same share of the other targets (BUCC's distractors), so a capped search is a smaller copy of the full
    one: Tatoeba accuracy over fewer candidates is higher than over all, so capped numbers compare only
    with numbers capped alike (the cap is recorded with the rows)."""
    rng = random.Random(0)
    keep = sorted(rng.sample(range(len(data.source_ids)), limit))
    sources = {data.source_ids[i] for i in keep}
    gold = [(s, t) for s, t in data.gold if s in sources]
    gold_targets = {t for _, t in gold}
    all_gold = {t for _, t in data.gold}  # the translations of dropped sources go with them
    others = [j for j, t in enumerate(data.target_ids) if t not in all_gold]
    share = round(len(others) * limit / len(data.source_ids))
    targets = sorted({j for j, t in enumerate(data.target_ids) if t in gold_targets} | set(rng.sample(others, share)))
    return RetrievalSet(source_ids=[data.source_ids[i] for i in keep], source_texts=[data.source_texts[i] for i in keep],
                        target_ids=[data.target_ids[j] for j in targets],
                        target_texts=[data.target_texts[j] for j in targets], gold=gold)


def evaluation_languages(study: Study, task: TaskSpec) -> list[str]:
    if study.languages is None:
        return list(task.languages)
    return [lang for lang in task.languages if lang in study.languages]
