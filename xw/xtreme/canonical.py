"""Label sets and canonical-row builders shared by the local readers and the hub mappings.

Why: a task read from disk and the same task read from the hub must give identical rows (same
label order, same choice encoding, same retrieval ids), so what builds a canonical row lives here
once, and both :mod:`xw.xtreme.local_targets` / :mod:`xw.xtreme.local_intermediate` and
:mod:`xw.xtreme.hub_mappings` call it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from xw.errors import XWError
from xw.tasks.base import RetrievalSet

Row = dict[str, Any]

# ----------------------------------------------------------------------------- label sets

# NLI_LABELS (xw.tasks.labels) is the shared three-way order of glue/anli/snli/xnli
PAWSX_LABELS: tuple[str, ...] = ("not_paraphrase", "paraphrase")  # PAWS-X label 0 / 1
QQP_LABELS: tuple[str, ...] = ("not_duplicate", "duplicate")  # glue qqp 0 / 1
SST2_LABELS: tuple[str, ...] = ("negative", "positive")  # glue sst2 0 / 1
UPOS_LABELS: tuple[str, ...] = ("ADJ", "ADP", "ADV", "AUX", "CCONJ", "DET", "INTJ", "NOUN", "NUM", "PART",
                                "PRON", "PROPN", "PUNCT", "SCONJ", "SYM", "VERB", "X")  # google/xtreme udpos order
PANX_LABELS: tuple[str, ...] = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")  # google/xtreme PAN-X

# aliases seen in the official files (ANLI e/n/c, XNLI-MT "contradictory", GLUE/PAWS digits)
_LABEL_ALIASES: dict[str, str] = {"e": "entailment", "n": "neutral", "c": "contradiction",
                                  "contradictory": "contradiction"}


def label_index(value: Any, names: Sequence[str], where: str) -> int:
    """A label given as name, alias, int or digit string -> its index in ``names``."""
    if isinstance(value, bool):
        raise XWError(f"{where}: label {value!r} is not a label")
    if isinstance(value, int):
        if 0 <= value < len(names):
            return value
        raise XWError(f"{where}: label {value} is outside 0..{len(names) - 1} ({', '.join(names)})")
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return label_index(int(text), names, where)
    name = _LABEL_ALIASES.get(text.lower(), text)
    if name in names:
        return names.index(name)
    raise XWError(f"{where}: unknown label {value!r}; expected one of {list(names)}")


def tag_indices(tags: Sequence[str], names: Sequence[str], where: str) -> list[int]:
    """Tag names -> their indices in ``names``; an unknown tag is an error naming ``where``."""
    lookup = {n: i for i, n in enumerate(names)}
    try:
        return [lookup[t] for t in tags]
    except KeyError as err:
        raise XWError(f"{where}: unknown tag {err.args[0]!r}; expected one of {list(names)}") from None


# ----------------------------------------------------------------------------- canonical rows


def aligned_retrieval_set(language: str, source: Sequence[str], english: Sequence[str]) -> RetrievalSet:
    """Line i of one side translates line i of the other: ids ``<lg>-<i>`` / ``en-<i>``, gold = identity."""
    source_ids = [f"{language}-{i}" for i in range(len(source))]
    target_ids = [f"en-{i}" for i in range(len(english))]
    return RetrievalSet(source_ids=source_ids, source_texts=list(source), target_ids=target_ids,
                        target_texts=list(english), gold=list(zip(source_ids, target_ids, strict=True)))


def cosmosqa_row(context: str, question: str, answers: Sequence[str], label: int) -> Row:
    """Cosmos QA as (passage, question + answer) pairs, as jiant encodes it."""
    return {"context": context, "choices": [f"{question} {a}" for a in answers], "label": int(label)}


__all__ = ["PANX_LABELS", "PAWSX_LABELS", "QQP_LABELS", "SST2_LABELS", "UPOS_LABELS",
           "aligned_retrieval_set", "cosmosqa_row", "label_index", "tag_indices"]
