"""Pure mappings from Hugging Face hub schemas to xw's canonical schemas, one ``map_*`` per dataset.

Why: each ``map_*`` function takes a ``datasets.Dataset`` carrying the hub dataset's own columns
and returns the canonical Dataset (or a RetrievalSet), so the mapping is testable on small
in-memory Datasets without network; which hub dataset feeds which split is :mod:`xw.xtreme.hub`.

Hub facts the mappings rely on (google/xtreme, formerly the ``xtreme`` script):
XNLI has one config with a ``language`` column and string ``gold_label``; PAWS-X labels are
the strings "0"/"1"; udpos/PAN-X tags are ClassLabel sequences (older revisions: strings);
``bucc18.<lg>`` holds only the gold pairs, with the sentence ids in ``source_lang`` /
``target_lang``; ``tatoeba.<lg3>`` rows keep their trailing newline; tydiqa mixes all
languages, told apart by the id prefix ("arabic-...").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from xw.errors import XWError
from xw.tasks.base import RetrievalSet
from xw.tasks.kinds import CLASSIFICATION, MULTIPLE_CHOICE, QA, TAGGING
from xw.tasks.labels import NLI_LABELS
from xw.xtreme.canonical import (
    PANX_LABELS,
    PAWSX_LABELS,
    QQP_LABELS,
    SST2_LABELS,
    UPOS_LABELS,
    aligned_retrieval_set,
    cosmosqa_row,
    label_index,
)
from xw.xtreme.languages import TYDIQA_NAMES

if TYPE_CHECKING:
    from datasets import Dataset


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
                 features=CLASSIFICATION.schema(pair=True))
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

    out = ds.map(convert, batched=True, remove_columns=ds.column_names, features=CLASSIFICATION.schema())
    return _keep_labelled(out)


def map_tagging(ds: Dataset, names: Sequence[str]) -> Dataset:
    """udpos (tokens, pos_tags) / PAN-X (tokens, ner_tags); older revisions: words / ner as strings."""
    tokens = _pick(ds, "tokens", "words")
    tags = _pick(ds, "pos_tags", "ner_tags", "ner", "tags")
    decode = _tag_decoder(ds, tags, names)

    def convert(batch: dict[str, list]) -> dict[str, list]:
        return {"tokens": batch[tokens], "tags": [[decode(t) for t in seq] for seq in batch[tags]]}

    return ds.map(convert, batched=True, remove_columns=ds.column_names, features=TAGGING.schema())


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

    return ds.map(convert, batched=True, remove_columns=ds.column_names, features=QA.schema())


def map_tydiqa(ds: Dataset, language: str) -> Dataset:
    """google/xtreme tydiqa mixes languages; ids start with the language name ('arabic-...')."""
    prefix = f"{TYDIQA_NAMES[language]}-"
    subset = ds.filter(lambda batch: [str(i).startswith(prefix) for i in batch["id"]], batched=True)
    return map_squad(subset)


def map_tatoeba(ds: Dataset, language: str) -> RetrievalSet:
    """google/xtreme tatoeba.<lg3>: source_sentence (the language) / target_sentence (English), aligned."""
    source = [s.rstrip("\r\n") for s in ds["source_sentence"]]
    english = [s.rstrip("\r\n") for s in ds["target_sentence"]]
    return aligned_retrieval_set(language, source, english)


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

    out = ds.map(convert, batched=True, remove_columns=ds.column_names, features=MULTIPLE_CHOICE.schema())
    return _keep_labelled(out)


def map_commonsenseqa(ds: Dataset) -> Dataset:
    """tau/commonsense_qa: question, choices {label: A-E, text}, answerKey ('' on test)."""

    def convert(batch: dict[str, list]) -> dict[str, list]:
        labels = []
        for choices, key in zip(batch["choices"], batch["answerKey"], strict=True):
            labels.append(list(choices["label"]).index(key) if key in choices["label"] else -1)
        return {"context": batch["question"], "choices": [list(c["text"]) for c in batch["choices"]],
                "label": labels}

    out = ds.map(convert, batched=True, remove_columns=ds.column_names, features=MULTIPLE_CHOICE.schema())
    return _keep_labelled(out)


def map_cosmosqa(ds: Dataset) -> Dataset:
    """allenai/cosmos_qa: context, question, answer0-3, label (-1 on test) -> (passage, question + answer)."""

    def convert(batch: dict[str, list]) -> dict[str, list]:
        rows = [cosmosqa_row(c, q, [batch[f"answer{k}"][i] for k in range(4)],
                                   -1 if batch["label"][i] is None else int(batch["label"][i]))
                for i, (c, q) in enumerate(zip(batch["context"], batch["question"], strict=True))]
        return {key: [r[key] for r in rows] for key in ("context", "choices", "label")}

    out = ds.map(convert, batched=True, remove_columns=ds.column_names, features=MULTIPLE_CHOICE.schema())
    return _keep_labelled(out)
