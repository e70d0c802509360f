"""Which Hugging Face hub dataset feeds each split of each real task, and fetching it.

Why: a task's hub source is one function ``(split, language) -> list[HubPart]`` here, referenced
by the task's definition in :mod:`xw.xtreme.tasks`; it says which (dataset id, config, split)
each xw split comes from and which pure mapping of :mod:`xw.xtreme.hub_mappings` turns it into
canonical rows, so the plan of hub calls is testable without network. :func:`load` runs it with
``datasets.load_dataset`` and turns any failure into a :class:`DataNotFoundError`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xw.errors import DataNotFoundError, XWError
from xw.tasks.base import DataConfig, RetrievalSet
from xw.tasks.revision import UNPINNED, record_hub
from xw.xtreme.files import hint_for, missing
from xw.xtreme.hub_mappings import (
    map_bucc,
    map_commonsenseqa,
    map_cosmosqa,
    map_hellaswag,
    map_nli,
    map_panx,
    map_pawsx,
    map_qqp,
    map_squad,
    map_sst2,
    map_tatoeba,
    map_tydiqa,
    map_udpos,
    map_xnli,
)
from xw.xtreme.languages import TATOEBA_CODES, UDPOS_NAMES

XTREME = "google/xtreme"
GLUE = "nyu-mll/glue"
# every hub dataset a source below reads: the ids a study may pin in data.revisions (xw.study_file checks them)
HUB_DATASETS = (XTREME, GLUE, "rajpurkar/squad", "rajpurkar/squad_v2", "facebook/anli", "stanfordnlp/snli",
                "Rowan/hellaswag", "tau/commonsense_qa", "allenai/cosmos_qa")


@dataclass(frozen=True)
class HubPart:
    """One ``load_dataset(path, name, split=split)`` call and the mapping applied to its result."""

    path: str
    name: str | None
    split: str
    mapper: Callable[[Any], Any]


# source(split, language) -> the hub calls behind one split of one task (no network)
HubSource = Callable[[str, str], list[HubPart]]


def _unknown(task: str, split: str, known: Sequence[str]) -> XWError:
    return XWError(f"task {task!r}: unknown split {split!r} for data.source hub; known: {sorted(known)}")


def _table(task: str, table: dict[str, list[HubPart]], split: str) -> list[HubPart]:
    if split not in table:
        raise _unknown(task, split, table)
    return table[split]


def _hf_splits(task: str, split: str, path: str, name: str | None, mapper: Callable[[Any], Any],
               splits: dict[str, str]) -> list[HubPart]:
    if split not in splits:
        raise _unknown(task, split, splits)
    return [HubPart(path, name, splits[split], mapper)]


_TRAIN_DEV_TEST = {"train": "train", "dev": "validation", "test": "test"}
_TRAIN_DEV = {"train": "train", "dev": "validation"}


def _squad_train(split: str, language: str) -> list[HubPart]:
    return [HubPart("rajpurkar/squad", None, "train", map_squad)]


# ----------------------------------------------------------------------------- targets


def xnli(split: str, language: str) -> list[HubPart]:
    """English train = MultiNLI (as in XTREME); dev/test = XNLI (test labels are real on the hub)."""
    return _table("xnli", {
        "train": [HubPart(GLUE, "mnli", "train", map_nli)],
        "dev": [HubPart(XTREME, "XNLI", "validation", lambda d: map_xnli(d, language))],
        "test": [HubPart(XTREME, "XNLI", "test", lambda d: map_xnli(d, language))],
    }, split)


def pawsx(split: str, language: str) -> list[HubPart]:
    config = f"PAWS-X.{language}"
    return _table("pawsx", {"train": [HubPart(XTREME, config, "train", map_pawsx)],
                            "dev": [HubPart(XTREME, config, "validation", map_pawsx)],
                            "test": [HubPart(XTREME, config, "test", map_pawsx)],
                            "labeled_test": [HubPart(XTREME, config, "test", map_pawsx)]}, split)


def udpos(split: str, language: str) -> list[HubPart]:
    return _hf_splits("udpos", split, XTREME, f"udpos.{UDPOS_NAMES[language]}", map_udpos, _TRAIN_DEV_TEST)


def panx(split: str, language: str) -> list[HubPart]:
    return _hf_splits("panx", split, XTREME, f"PAN-X.{language}", map_panx, _TRAIN_DEV_TEST)


def xquad(split: str, language: str) -> list[HubPart]:
    """XQuAD's only split is called 'validation' on the hub; it is the labelled XTREME test set."""
    if split == "train":
        return _squad_train(split, language)
    return _hf_splits("xquad", split, XTREME, f"XQuAD.{language}", map_squad, {"test": "validation"})


def mlqa(split: str, language: str) -> list[HubPart]:
    if split == "train":
        return _squad_train(split, language)
    return _hf_splits("mlqa", split, XTREME, f"MLQA.{language}.{language}", map_squad,
                      {"dev": "validation", "test": "test"})


def tydiqa(split: str, language: str) -> list[HubPart]:
    return _hf_splits("tydiqa", split, XTREME, "tydiqa", lambda d: map_tydiqa(d, language), _TRAIN_DEV)


def bucc2018(split: str, language: str) -> list[HubPart]:
    return _hf_splits("bucc2018", split, XTREME, f"bucc18.{language}", lambda d: map_bucc(d, language),
                      {"dev": "validation", "test": "test"})


def tatoeba(split: str, language: str) -> list[HubPart]:
    return _hf_splits("tatoeba", split, XTREME, f"tatoeba.{TATOEBA_CODES[language]}",
                      lambda d: map_tatoeba(d, language), {"test": "validation"})


# ----------------------------------------------------------------------------- intermediate tasks


def anli(split: str, language: str) -> list[HubPart]:
    """ANLI+ train = ANLI R1-R3 + MNLI + SNLI (Nie et al. 2020, as used by Phang et al.)."""
    rounds = ("r1", "r2", "r3")
    if split == "train":
        return ([HubPart("facebook/anli", None, f"train_{r}", map_nli) for r in rounds]
                + [HubPart(GLUE, "mnli", "train", map_nli), HubPart("stanfordnlp/snli", None, "train", map_nli)])
    if split in ("dev", "test"):
        return [HubPart("facebook/anli", None, f"{split}_{r}", map_nli) for r in rounds]
    raise _unknown("anli", split, ("train", "dev", "test"))


def mnli(split: str, language: str) -> list[HubPart]:
    return _hf_splits("mnli", split, GLUE, "mnli", map_nli,
                      {"train": "train", "dev": "validation_matched", "dev_mismatched": "validation_mismatched"})


def qqp(split: str, language: str) -> list[HubPart]:
    return _hf_splits("qqp", split, GLUE, "qqp", map_qqp, _TRAIN_DEV)


def sst2(split: str, language: str) -> list[HubPart]:
    """GLUE's sst2 test is unlabelled: xw's 'test' is GLUE validation, as in the curated local files."""
    return _hf_splits("sst2", split, GLUE, "sst2", map_sst2,
                      {"train": "train", "dev": "validation", "test": "validation"})


def squad(split: str, language: str) -> list[HubPart]:
    return _hf_splits("squad", split, "rajpurkar/squad", None, map_squad, _TRAIN_DEV)


def squad_v2(split: str, language: str) -> list[HubPart]:
    return _hf_splits("squad_v2", split, "rajpurkar/squad_v2", None, map_squad, _TRAIN_DEV)


def hellaswag(split: str, language: str) -> list[HubPart]:
    return _hf_splits("hellaswag", split, "Rowan/hellaswag", None, map_hellaswag, _TRAIN_DEV)


def commonsenseqa(split: str, language: str) -> list[HubPart]:
    return _hf_splits("commonsenseqa", split, "tau/commonsense_qa", None, map_commonsenseqa, _TRAIN_DEV)


def cosmosqa(split: str, language: str) -> list[HubPart]:
    return _hf_splits("cosmosqa", split, "allenai/cosmos_qa", None, map_cosmosqa, _TRAIN_DEV)


def ccg(split: str, language: str) -> list[HubPart]:
    raise missing("ccg", split, language, ["(the Hugging Face hub)"],
                  why="CCGbank is LDC-licensed and no hub dataset carries it")


# ----------------------------------------------------------------------------- fetching


def resolved_revision(ds: Any) -> str | None:
    """The hub commit a loaded dataset was built from, where its cache folder names it (offline-safe: no call).

    ``datasets`` keeps a hub dataset's Arrow files under ``.../<config>/<version>/<commit sha>/``; a dataset
    without that layout (in memory, a script) gives None."""
    import re
    from pathlib import Path

    for cache in getattr(ds, "cache_files", None) or ():
        folder = Path(cache.get("filename", "")).parent.name
        if re.fullmatch(r"[0-9a-f]{40}", folder):
            return folder
    return None


def _fetch(task: str, split: str, language: str, part: HubPart, config: DataConfig) -> Any:
    import datasets

    where = f"{part.path}" + (f" config {part.name!r}" if part.name else "") + f" split {part.split!r}"
    pin = config.revisions.get(part.path)
    try:
        ds = datasets.load_dataset(part.path, part.name, split=part.split, **({"revision": pin} if pin else {}),
                                   cache_dir=str(config.cache_dir) if config.cache_dir else None)
    except Exception as err:  # network, unknown config/split, gated repo: all mean "no data here"
        raise DataNotFoundError(
            f"task {task!r}: could not load {split!r} data for language {language!r} from the hub ({where}): "
            f"{type(err).__name__}: {err}. Check the network / HF_HUB_OFFLINE and that the dataset is cached, "
            f"or use data.source: local ({hint_for(task, default='')})."
        ) from err
    resolved = None if pin else resolved_revision(ds)
    record_hub(part.path, pin or (f"resolved:{resolved}" if resolved else UNPINNED))
    result = part.mapper(ds)
    if not isinstance(result, RetrievalSet) and len(result) == 0:
        raise DataNotFoundError(f"task {task!r}: {where} has no labelled rows for language {language!r}")
    return result


def load(task: str, source: HubSource, split: str, language: str, config: DataConfig) -> Any:
    """Canonical Dataset (or RetrievalSet) for one task/split/language from the hub, per its ``source``."""
    results = [_fetch(task, split, language, part, config) for part in source(split, language)]
    if len(results) == 1:
        return results[0]
    from datasets import concatenate_datasets

    return concatenate_datasets(results)
