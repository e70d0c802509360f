"""Span F1 over tag sequences as XTREME's published numbers computed it (seqeval 0.0.12), in xw's own code.

Why: XTREME scores PAN-X *and* UD-POS with seqeval's ``f1_score``; ``install_tools.sh`` installed an
unpinned ``pip install seqeval``, which in March 2020 (the paper's runs) was 0.0.12. Its
``get_entities`` reads a chunk's tag as the first character and its type as
``chunk.split('-')[-1]``: a bare UD tag keeps its full name as type ("CCONJ" and "SCONJ" differ).
seqeval >= 1.0 (chakki-works/seqeval PR 38, July 2020) takes ``chunk[1:]`` instead, so "CCONJ" and
"SCONJ" both become type "CONJ" and a CCONJ/SCONJ confusion counts as correct. xw keeps the 0.0.12
behaviour whatever seqeval is installed. For IOB2 NER tags (``B-PER``) both versions agree.
"""

from __future__ import annotations

from collections.abc import Sequence

Span = tuple[str, int, int]


def _ends(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval ``end_of_chunk``: did a chunk end between the previous and the current word?"""
    if prev_tag in ("E", "S"):
        return True
    if prev_tag in ("B", "I") and tag in ("B", "S", "O"):
        return True
    return prev_tag not in ("O", ".") and prev_type != type_


def _starts(prev_tag: str, tag: str, prev_type: str, type_: str) -> bool:
    """seqeval ``start_of_chunk``: did a chunk start at the current word?"""
    if tag in ("B", "S"):
        return True
    if prev_tag in ("E", "S", "O") and tag in ("E", "I"):
        return True
    return tag not in ("O", ".") and prev_type != type_


def entities(sentences: Sequence[Sequence[str]]) -> list[Span]:
    """seqeval 0.0.12 ``get_entities`` of a list of sentences: joined with an 'O' between them."""
    seq = [tag for sentence in sentences for tag in [*sentence, "O"]]
    prev_tag, prev_type, begin = "O", "", 0
    chunks: list[Span] = []
    for i, chunk in enumerate([*seq, "O"]):
        tag, type_ = chunk[0], chunk.split("-")[-1]
        if _ends(prev_tag, tag, prev_type, type_):
            chunks.append((prev_type, begin, i - 1))
        if _starts(prev_tag, tag, prev_type, type_):
            begin = i
        prev_tag, prev_type = tag, type_
    return chunks


def span_prf(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Micro precision/recall/F1 (0-100) of exactly matching spans, as seqeval 0.0.12's ``*_score``."""
    gold, predicted = set(entities(references)), set(entities(predictions))
    correct = len(gold & predicted)
    precision = correct / len(predicted) if predicted else 0.0
    recall = correct / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}
