"""Hugging Face hub sources for every task, and pure hub-schema -> canonical-schema mappings.

Each ``map_*`` function takes a ``datasets.Dataset`` carrying the hub dataset's own columns
and returns the canonical Dataset (or a RetrievalSet), so the mapping is testable on small
in-memory Datasets without network. :data:`SOURCES` says which (dataset id, config, split)
each xw split comes from; :func:`load` fetches them with ``datasets.load_dataset``.

Hub facts the mappings rely on (google/xtreme, formerly the ``xtreme`` script):
XNLI has one config with a ``language`` column and string ``gold_label``; PAWS-X labels are
the strings "0"/"1"; udpos/PAN-X tags are ClassLabel sequences (older revisions: strings);
``bucc18.<lg>`` holds only the gold pairs, with the sentence ids in ``source_lang`` /
``target_lang``; ``tatoeba.<lg3>`` rows keep their trailing newline; tydiqa mixes all
languages, told apart by the id prefix ("arabic-...").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xw.errors import DataNotFoundError, XWError
from xw.tasks.base import DataConfig, RetrievalSet
from xw.xtreme import local
from xw.xtreme.local import (
    NLI_LABELS,
    PANX_LABELS,
    PAWSX_LABELS,
    QQP_LABELS,
    SST2_LABELS,
    TATOEBA_CODES,
    TYDIQA_NAMES,
    UPOS_LABELS,
    canonical_features,
    label_index,
)

if TYPE_CHECKING:
    from datasets import Dataset

XTREME = "google/xtreme"
GLUE = "nyu-mll/glue"

UDPOS_NAMES: dict[str, str] = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "kk": "Kazakh", "ko": "Korean", "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
    "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese",
}


# ----------------------------------------------------------------------------- label decoding


def _decoder(ds: Dataset, column: str, names: Sequence[str]) -> Callable[[Any], int]:
    """Value in ``column`` -> index in ``names`` (-1 = no gold label), for ClassLabel ints or strings."""
    from datasets import ClassLabel

    feature = ds.features[column]
    hub_names = feature.names if isinstance(feature, ClassLabel) else None

    def decode(value: Any) -> int:
        if value is None or value == "" or (isinstance(value, int) and value < 0):
            return -1
        if hub_names is not None:
            return label_index(hub_names[int(value)], names, f"hub column {column!r}")
        return label_index(value, names, f"hub column {column!r}")

    return decode


def _tag_decoder(ds: Dataset, column: str, names: Sequence[str]) -> Callable[[Any], int]:
    """Tag-sequence element -> index in ``names``; ClassLabel ints are translated through their names."""
    feature = ds.features[column]
    inner = getattr(feature, "feature", None)
    hub_names = getattr(inner, "names", None)
    lookup = {n: i for i, n in enumerate(names)}

    def decode(value: Any) -> int:
        name = hub_names[int(value)] if hub_names is not None else str(value)
        if name not in lookup:
            raise XWError(f"hub column {column!r}: unknown tag {name!r}; expected one of {list(names)}")
        return lookup[name]

    return decode


def _pick(ds: Dataset, *candidates: str) -> str:
    for name in candidates:
        if name in ds.column_names:
            return name
    raise XWError(f"hub dataset has none of the columns {list(candidates)} (it has {ds.column_names})")


def _keep_labelled(ds: Dataset) -> Dataset:
    return ds.filter(lambda batch: [x >= 0 for x in batch["label"]], batched=True)


# ----------------------------------------------------------------------------- mappings (pure)


def map_pair_classification(ds: Dataset, first: str, second: str, label: str, names: Sequence[str]) -> Dataset:
    """Sentence-pair columns -> text / text_pair / label; rows without a gold label (-1, '') dropped."""
    decode = _decoder(ds, label, names)

    def convert(batch: dict[str, list]) -> dict[str, list]:
        return {"text": batch[first], "text_pair": batch[second], "label": [decode(v) for v in batch[label]]}

    out = ds.map(convert, batched=True, remove_columns=ds.column_names,
                 features=canonical_features("classification", pair=True))
    return _keep_labelled(out)


def map_nli(ds: Dataset) -> Dataset:
    """facebook/anli, nyu-mll/glue mnli, stanfordnlp/snli: premise, hypothesis, label (0 e / 1 n / 2 c)."""
    return map_pair_classification(ds, "premise", "hypothesis", "label", NLI_LABELS)


def map_xnli(ds: Dataset, language: str) -> Dataset:
    """google/xtreme XNLI: all languages in one table; keep ``language``, map sentence1/2 and gold_label."""
    subset = ds.filter(lambda batch: [x == language for x in batch["language"]], batched=True)
    return map_pair_classification(subset, "sentence1", "sentence2", "gold_label", NLI_LABELS)


def map_pawsx(ds: Dataset) -> Dataset:
    return map_pair_classification(ds, "sentence1", "sentence2", "label", PAWSX_LABELS)


def map_qqp(ds: Dataset) -> Dataset:
    return map_pair_classification(ds, "question1", "question2", "label", QQP_LABELS)


def map_sst2(ds: Dataset) -> Dataset:
    decode = _decoder(ds, "label", SST2_LABELS)

    def convert(batch: dict[str, list]) -> dict[str, list]:
        return {"text": [s.strip() for s in batch["sentence"]], "label": [decode(v) for v in batch["label"]]}

    out = ds.map(convert, batched=True, remove_columns=ds.column_names, features=canonical_features("classification"))
    return _keep_labelled(out)


def map_tagging(ds: Dataset, names: Sequence[str]) -> Dataset:
    """udpos (tokens, pos_tags) / PAN-X (tokens, ner_tags); older revisions: words / ner as strings."""
    tokens = _pick(ds, "tokens", "words")
    tags = _pick(ds, "pos_tags", "ner_tags", "ner", "tags")
    decode = _tag_decoder(ds, tags, names)

    def convert(batch: dict[str, list]) -> dict[str, list]:
        return {"tokens": batch[tokens], "tags": [[decode(t) for t in seq] for seq in batch[tags]]}

    return ds.map(convert, batched=True, remove_columns=ds.column_names, features=canonical_features("tagging"))


def map_udpos(ds: Dataset) -> Dataset:
    return map_tagging(ds, UPOS_LABELS)


def map_panx(ds: Dataset) -> Dataset:
    return map_tagging(ds, PANX_LABELS)


def map_squad(ds: Dataset) -> Dataset:
    """SQuAD-style columns (rajpurkar/squad(_v2), google/xtreme XQuAD/MLQA/tydiqa) -> canonical QA."""

    def convert(batch: dict[str, list]) -> dict[str, list]:
        answers = [{"text": list(a["text"]), "answer_start": [int(s) for s in a["answer_start"]]}
                   for a in batch["answers"]]
        return {"id": [str(i) for i in batch["id"]], "context": batch["context"], "question": batch["question"],
                "answers": answers}

    return ds.map(convert, batched=True, remove_columns=ds.column_names, features=canonical_features("qa"))


def map_tydiqa(ds: Dataset, language: str) -> Dataset:
    """google/xtreme tydiqa mixes languages; ids start with the language name ('arabic-...')."""
    prefix = f"{TYDIQA_NAMES[language]}-"
    subset = ds.filter(lambda batch: [str(i).startswith(prefix) for i in batch["id"]], batched=True)
    return map_squad(subset)


def map_tatoeba(ds: Dataset, language: str) -> RetrievalSet:
    """google/xtreme tatoeba.<lg3>: source_sentence (the language) / target_sentence (English), aligned."""
    source = [s.rstrip("\r\n") for s in ds["source_sentence"]]
    english = [s.rstrip("\r\n") for s in ds["target_sentence"]]
    return local.aligned_retrieval_set(language, source, english)


def map_bucc(ds: Dataset, language: str) -> RetrievalSet:
    """google/xtreme bucc18.<lg>: one row per GOLD pair only (no distractor sentences).

    The hub copy keeps the BUCC sentence ids in ``source_lang`` / ``target_lang``; without
    distractors the task degenerates to Tatoeba-like matching, so its F1 is not BUCC's.
    """
    source_ids, source_texts, target_ids, target_texts = [], [], [], []
    seen_s: set[str] = set()
    seen_t: set[str] = set()
    gold = []
    for i, row in enumerate(ds):
        sid = str(row.get("source_lang") or "")
        tid = str(row.get("target_lang") or "")
        sid = sid if sid.startswith(f"{language}-") else f"{language}-{i}"
        tid = tid if tid.startswith("en-") else f"en-{i}"
        if sid not in seen_s:
            seen_s.add(sid)
            source_ids.append(sid)
            source_texts.append(row["source_sentence"].rstrip("\r\n"))
        if tid not in seen_t:
            seen_t.add(tid)
            target_ids.append(tid)
            target_texts.append(row["target_sentence"].rstrip("\r\n"))
        gold.append((sid, tid))
    return RetrievalSet(source_ids=source_ids, source_texts=source_texts, target_ids=target_ids,
                        target_texts=target_texts, gold=gold)


def map_hellaswag(ds: Dataset) -> Dataset:
    """Rowan/hellaswag: context = '<activity_label>: <ctx>' (like the local text file), endings, label str."""

    def convert(batch: dict[str, list]) -> dict[str, list]:
        contexts = [f"{a}: {c}" if a else c for a, c in zip(batch["activity_label"], batch["ctx"], strict=True)]
        labels = [int(v) if str(v).strip().lstrip("-").isdigit() else -1 for v in batch["label"]]
        return {"context": contexts, "choices": batch["endings"], "label": labels}

    out = ds.map(convert, batched=True, remove_columns=ds.column_names, features=canonical_features("multiple_choice"))
    return _keep_labelled(out)


def map_commonsenseqa(ds: Dataset) -> Dataset:
    """tau/commonsense_qa: question, choices {label: A-E, text}, answerKey ('' on test)."""

    def convert(batch: dict[str, list]) -> dict[str, list]:
        labels = []
        for choices, key in zip(batch["choices"], batch["answerKey"], strict=True):
            labels.append(list(choices["label"]).index(key) if key in choices["label"] else -1)
        return {"context": batch["question"], "choices": [list(c["text"]) for c in batch["choices"]],
                "label": labels}

    out = ds.map(convert, batched=True, remove_columns=ds.column_names, features=canonical_features("multiple_choice"))
    return _keep_labelled(out)


def map_cosmosqa(ds: Dataset) -> Dataset:
    """allenai/cosmos_qa: context, question, answer0-3, label (-1 on test) -> (passage, question + answer)."""

    def convert(batch: dict[str, list]) -> dict[str, list]:
        rows = [local.cosmosqa_row(c, q, [batch[f"answer{k}"][i] for k in range(4)],
                                   -1 if batch["label"][i] is None else int(batch["label"][i]))
                for i, (c, q) in enumerate(zip(batch["context"], batch["question"], strict=True))]
        return {key: [r[key] for r in rows] for key in ("context", "choices", "label")}

    out = ds.map(convert, batched=True, remove_columns=ds.column_names, features=canonical_features("multiple_choice"))
    return _keep_labelled(out)


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class HubPart:
    """One ``load_dataset(path, name, split=split)`` call and the mapping applied to its result."""

    path: str
    name: str | None
    split: str
    mapper: Callable[[Any], Any]


def _squad_train(split: str, language: str) -> list[HubPart]:
    return [HubPart("rajpurkar/squad", None, "train", map_squad)]


def _unknown(task: str, split: str, known: Sequence[str]) -> XWError:
    return XWError(f"task {task!r}: unknown split {split!r} for data.source hub; known: {sorted(known)}")


def _table(task: str, table: dict[str, list[HubPart]], split: str) -> list[HubPart]:
    if split not in table:
        raise _unknown(task, split, table)
    return table[split]


def _xnli(split: str, language: str) -> list[HubPart]:
    """English train = MultiNLI (as in XTREME); dev/test = XNLI (test labels are real on the hub)."""
    return _table("xnli", {
        "train": [HubPart(GLUE, "mnli", "train", map_nli)],
        "dev": [HubPart(XTREME, "XNLI", "validation", lambda d: map_xnli(d, language))],
        "test": [HubPart(XTREME, "XNLI", "test", lambda d: map_xnli(d, language))],
    }, split)


def _pawsx(split: str, language: str) -> list[HubPart]:
    config = f"PAWS-X.{language}"
    return _table("pawsx", {"train": [HubPart(XTREME, config, "train", map_pawsx)],
                            "dev": [HubPart(XTREME, config, "validation", map_pawsx)],
                            "test": [HubPart(XTREME, config, "test", map_pawsx)],
                            "labeled_test": [HubPart(XTREME, config, "test", map_pawsx)]}, split)


def _hf_splits(task: str, split: str, path: str, name: str | None, mapper: Callable[[Any], Any],
               splits: dict[str, str]) -> list[HubPart]:
    if split not in splits:
        raise _unknown(task, split, splits)
    return [HubPart(path, name, splits[split], mapper)]


_TRAIN_DEV_TEST = {"train": "train", "dev": "validation", "test": "test"}
_TRAIN_DEV = {"train": "train", "dev": "validation"}


def _udpos(split: str, language: str) -> list[HubPart]:
    return _hf_splits("udpos", split, XTREME, f"udpos.{UDPOS_NAMES[language]}", map_udpos, _TRAIN_DEV_TEST)


def _panx(split: str, language: str) -> list[HubPart]:
    return _hf_splits("panx", split, XTREME, f"PAN-X.{language}", map_panx, _TRAIN_DEV_TEST)


def _xquad(split: str, language: str) -> list[HubPart]:
    """XQuAD's only split is called 'validation' on the hub; it is the labelled XTREME test set."""
    if split == "train":
        return _squad_train(split, language)
    return _hf_splits("xquad", split, XTREME, f"XQuAD.{language}", map_squad, {"test": "validation"})


def _mlqa(split: str, language: str) -> list[HubPart]:
    if split == "train":
        return _squad_train(split, language)
    return _hf_splits("mlqa", split, XTREME, f"MLQA.{language}.{language}", map_squad,
                      {"dev": "validation", "test": "test"})


def _tydiqa(split: str, language: str) -> list[HubPart]:
    return _hf_splits("tydiqa", split, XTREME, "tydiqa", lambda d: map_tydiqa(d, language), _TRAIN_DEV)


def _bucc(split: str, language: str) -> list[HubPart]:
    return _hf_splits("bucc2018", split, XTREME, f"bucc18.{language}", lambda d: map_bucc(d, language),
                      {"dev": "validation", "test": "test"})


def _tatoeba(split: str, language: str) -> list[HubPart]:
    return _hf_splits("tatoeba", split, XTREME, f"tatoeba.{TATOEBA_CODES[language]}",
                      lambda d: map_tatoeba(d, language), {"test": "validation"})


def _anli(split: str, language: str) -> list[HubPart]:
    """ANLI+ train = ANLI R1-R3 + MNLI + SNLI (Nie et al. 2020, as used by Phang et al.)."""
    rounds = ("r1", "r2", "r3")
    if split == "train":
        return ([HubPart("facebook/anli", None, f"train_{r}", map_nli) for r in rounds]
                + [HubPart(GLUE, "mnli", "train", map_nli), HubPart("stanfordnlp/snli", None, "train", map_nli)])
    if split in ("dev", "test"):
        return [HubPart("facebook/anli", None, f"{split}_{r}", map_nli) for r in rounds]
    raise _unknown("anli", split, ("train", "dev", "test"))


def _ccg(split: str, language: str) -> list[HubPart]:
    raise local.missing("ccg", split, language, ["(the Hugging Face hub)"],
                        why="CCGbank is LDC-licensed and no hub dataset carries it")


SOURCES: dict[str, Callable[[str, str], list[HubPart]]] = {
    "xnli": _xnli, "pawsx": _pawsx, "udpos": _udpos, "panx": _panx, "xquad": _xquad, "mlqa": _mlqa,
    "tydiqa": _tydiqa, "bucc2018": _bucc, "tatoeba": _tatoeba, "anli": _anli,
    "mnli": lambda s, lg: _hf_splits("mnli", s, GLUE, "mnli", map_nli,
                                     {"train": "train", "dev": "validation_matched",
                                      "dev_mismatched": "validation_mismatched"}),
    "qqp": lambda s, lg: _hf_splits("qqp", s, GLUE, "qqp", map_qqp, _TRAIN_DEV),
    # GLUE's sst2 test is unlabelled: xw's 'test' is GLUE validation, as in the curated local files
    "sst2": lambda s, lg: _hf_splits("sst2", s, GLUE, "sst2", map_sst2,
                                     {"train": "train", "dev": "validation", "test": "validation"}),
    "squad": lambda s, lg: _hf_splits("squad", s, "rajpurkar/squad", None, map_squad, _TRAIN_DEV),
    "squad_v2": lambda s, lg: _hf_splits("squad_v2", s, "rajpurkar/squad_v2", None, map_squad, _TRAIN_DEV),
    "hellaswag": lambda s, lg: _hf_splits("hellaswag", s, "Rowan/hellaswag", None, map_hellaswag, _TRAIN_DEV),
    "commonsenseqa": lambda s, lg: _hf_splits("commonsenseqa", s, "tau/commonsense_qa", None, map_commonsenseqa,
                                              _TRAIN_DEV),
    "cosmosqa": lambda s, lg: _hf_splits("cosmosqa", s, "allenai/cosmos_qa", None, map_cosmosqa, _TRAIN_DEV),
    "ccg": _ccg,
}


def parts(task: str, split: str, language: str) -> list[HubPart]:
    """The hub calls behind one task/split/language (no network)."""
    return SOURCES[task](split, language)


def _fetch(task: str, split: str, language: str, part: HubPart, config: DataConfig) -> Any:
    import datasets

    where = f"{part.path}" + (f" config {part.name!r}" if part.name else "") + f" split {part.split!r}"
    try:
        ds = datasets.load_dataset(part.path, part.name, split=part.split,
                                   cache_dir=str(config.cache_dir) if config.cache_dir else None)
    except Exception as err:  # network, unknown config/split, gated repo: all mean "no data here"
        raise DataNotFoundError(
            f"task {task!r}: could not load {split!r} data for language {language!r} from the hub ({where}): "
            f"{type(err).__name__}: {err}. Check the network / HF_HUB_OFFLINE and that the dataset is cached, "
            f"or use data.source: local ({local.HINTS.get(task, '')})."
        ) from err
    result = part.mapper(ds)
    if not isinstance(result, RetrievalSet) and len(result) == 0:
        raise DataNotFoundError(f"task {task!r}: {where} has no labelled rows for language {language!r}")
    return result


def load(task: str, split: str, language: str, config: DataConfig) -> Any:
    """Canonical Dataset (or RetrievalSet) for one task/split/language from the hub."""
    results = [_fetch(task, split, language, part, config) for part in parts(task, split, language)]
    if len(results) == 1:
        return results[0]
    from datasets import concatenate_datasets

    return concatenate_datasets(results)
