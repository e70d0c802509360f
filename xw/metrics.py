"""Evaluation metrics, computed exactly as the XTREME evaluation computes them.

XTREME's metric code cannot be fetched at run time here (no HF hub, so no ``evaluate``
metric scripts), so each metric re-implements the official logic directly and cites it:

- google-research/xtreme ``evaluate.py`` (accuracy, seqeval F1, BUCC F1, score scale),
- ``third_party/evaluate_squad.py`` (SQuAD v1.1 script; XQuAD and TyDiQA-GoldP),
- ``third_party/evaluate_mlqa.py`` (= facebookresearch/MLQA ``mlqa_evaluation_v1.py``),
- ``third_party/utils_retrieve.py`` (``bucc_optimize``, ``bucc_extract``, ``bucc_eval``),
- ``third_party/evaluate_retrieval.py`` / ``run_retrieval.py`` (Tatoeba accuracy).

Every score is on the 0-100 scale XTREME reports. Bad inputs (empty, mismatched lengths)
raise ``ValueError`` with both sizes named, instead of the silent ``zip`` truncation or
``ZeroDivisionError`` the official scripts would give.
"""

from __future__ import annotations

import functools
import logging
import re
import string
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from xw.span_f1 import span_prf

logger = logging.getLogger(__name__)

__all__ = [
    "METRICS",
    "MLQA_LANGUAGES",
    "accuracy",
    "bucc_extract",
    "bucc_f1",
    "bucc_optimize",
    "mlqa",
    "normalize_mlqa_answer",
    "normalize_squad_answer",
    "primary_value",
    "select_bucc_threshold",
    "seqeval_f1",
    "squad",
    "tatoeba_accuracy",
    "udpos_f1",
]


# --------------------------------------------------------------------------- helpers

Sized = Sequence[Any]


def _check_nonempty(name: str, values: Any) -> None:
    if len(values) == 0:
        raise ValueError(f"{name}: got empty inputs; a metric needs at least one example.")


def _check_same_length(name: str, predictions: Sized, references: Sized) -> None:
    if len(predictions) != len(references):
        raise ValueError(
            f"{name}: {len(predictions)} predictions but {len(references)} references; "
            "they must be aligned one-to-one."
        )


def _is_sequence_item(x: Any) -> bool:
    """A per-sentence label list (tagging) rather than a single label (classification)."""
    if isinstance(x, (str, bytes)):
        return False
    if isinstance(x, (list, tuple)):
        return True
    return getattr(x, "ndim", 0) > 0  # numpy / torch arrays


def _flatten_tagging(
    name: str, predictions: Sequence[Any], references: Sequence[Any]
) -> tuple[list[Any], list[Any]]:
    """Flatten per-sentence label lists, checking each sentence pair has equal length."""
    flat_p: list[Any] = []
    flat_r: list[Any] = []
    for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
        if len(p) != len(r):
            raise ValueError(
                f"{name}: sentence {i} has {len(p)} predicted labels but {len(r)} reference labels."
            )
        flat_p.extend(list(p))
        flat_r.extend(list(r))
    return flat_p, flat_r


# --------------------------------------------------------------------------- accuracy


def accuracy(predictions: Sequence[Any], references: Sequence[Any]) -> dict[str, float]:
    """Percentage of predictions equal to their reference (XNLI, PAWS-X).

    Follows xtreme ``evaluate.py::accuracy`` (``correct / len(predictions) * 100``). When the
    items are per-sentence label lists (tagging), they are flattened first, giving token
    accuracy. Note: XTREME ``evaluate.py`` and jiant (Phang et al.) score UD-POS with
    :func:`seqeval_f1`, not with token accuracy.
    """
    _check_nonempty("accuracy", predictions)
    _check_same_length("accuracy", predictions, references)
    nested_p = _is_sequence_item(predictions[0])
    nested_r = _is_sequence_item(references[0])
    if nested_p != nested_r:
        raise ValueError(
            "accuracy: predictions and references must both be flat labels or both be "
            f"per-sentence label lists (got nested predictions={nested_p}, nested references={nested_r})."
        )
    if nested_p:
        predictions, references = _flatten_tagging("accuracy", predictions, references)
        _check_nonempty("accuracy (after flattening sentences)", predictions)
    correct = sum(int(p == r) for p, r in zip(predictions, references, strict=True))
    return {"accuracy": 100.0 * correct / len(predictions)}


# --------------------------------------------------------------------------- seqeval


def seqeval_f1(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """Span-level precision/recall/F1 over IOB2 tag sequences (PAN-X; UD-POS in XTREME/jiant).

    Exactly xtreme ``evaluate.py::f1`` (and jiant's ``F1TaggingEvaluationScheme``): seqeval's
    default (conlleval-compatible, lenient) mode, micro-averaged over spans, times 100, with
    seqeval 0.0.12's reading of bare UD-POS tags (:mod:`xw.span_f1`: the first character is the
    prefix, the whole tag the type, runs of one tag merge into one span), whatever seqeval is installed.
    """
    _check_nonempty("seqeval_f1", predictions)
    _check_same_length("seqeval_f1", predictions, references)
    for i, (p, r) in enumerate(zip(predictions, references, strict=True)):
        if len(p) != len(r):
            raise ValueError(
                f"seqeval_f1: sentence {i} has {len(p)} predicted tags but {len(r)} reference tags."
            )
    return span_prf(predictions, references)


def udpos_f1(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    """UD-POS as XTREME scores it: :func:`seqeval_f1` (primary ``f1``), plus token ``accuracy`` as a second row."""
    return {**seqeval_f1(predictions, references), **accuracy(predictions, references)}


# --------------------------------------------------------------------------- SQuAD


def normalize_squad_answer(s: str) -> str:
    """SQuAD v1.1 ``normalize_answer``: lowercase, drop ASCII punctuation, articles, extra spaces."""
    s = s.lower()
    exclude = set(string.punctuation)
    s = "".join(ch for ch in s if ch not in exclude)
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _token_f1(prediction_tokens: list[str], ground_truth_tokens: list[str]) -> float:
    """Bag-of-tokens F1 shared by the SQuAD v1.1 and MLQA scripts (0 when nothing overlaps)."""
    common = Counter(prediction_tokens) & Counter(ground_truth_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(prediction_tokens)
    recall = num_same / len(ground_truth_tokens)
    return (2 * precision * recall) / (precision + recall)


def _qa_evaluate(
    name: str,
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    normalize: Callable[[str], str],
    tokenize: Callable[[str], list[str]],
) -> dict[str, float]:
    """The ``evaluate`` loop of the SQuAD v1.1 / MLQA scripts over a flat id -> answers map.

    The denominator is the number of reference questions; unanswered ids score 0 (the
    official scripts print a warning and ``continue``); extra prediction ids are ignored.
    """
    _check_nonempty(name, references)
    f1 = exact_match = 0.0
    missing: list[str] = []
    for qid, golds in references.items():
        if qid not in predictions:
            missing.append(qid)
            continue
        if isinstance(golds, str):
            raise ValueError(f"{name}: references[{qid!r}] must be a list of answer strings, not a str.")
        prediction = predictions[qid]
        pred_norm = normalize(prediction)
        if len(golds) == 0:
            # SQuAD v2.0 convention (evaluate-v2.0.py): unanswerable -> gold [""], and an empty
            # prediction scores 1 for both EM and F1 (v1.1's F1 would give 0 for empty == empty).
            hit = float(pred_norm == "")
            exact_match += hit
            f1 += hit
            continue
        pred_tokens = tokenize(pred_norm)
        exact_match += max(float(pred_norm == normalize(g)) for g in golds)
        f1 += max(_token_f1(pred_tokens, tokenize(normalize(g))) for g in golds)
    if missing:
        shown = ", ".join(repr(m) for m in missing[:5])
        more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
        logger.warning(
            "%s: %d of %d questions have no prediction and score 0: %s%s",
            name,
            len(missing),
            len(references),
            shown,
            more,
        )
    total = len(references)
    return {"exact_match": 100.0 * exact_match / total, "f1": 100.0 * f1 / total}


def squad(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """SQuAD v1.1 EM/F1 (max over gold answers), as xtreme ``third_party/evaluate_squad.py``.

    Used for XQuAD and TyDiQA-GoldP (and SQuAD as an intermediate task). ``references`` maps
    question id -> gold answer texts; an empty list marks a SQuAD v2.0 unanswerable question.
    """
    return _qa_evaluate("squad", predictions, references, normalize_squad_answer, str.split)


# --------------------------------------------------------------------------- MLQA


@functools.cache
def _mlqa_punct() -> frozenset[str]:
    """Unicode punctuation (categories P*) plus ASCII punctuation, as evaluate_mlqa.py's PUNCT.

    Built on first use: scanning all code points takes ~0.5 s.
    """
    return frozenset(
        {chr(i) for i in range(sys.maxunicode) if unicodedata.category(chr(i)).startswith("P")}
        | set(string.punctuation)
    )


_WHITESPACE_LANGS = ("en", "es", "hi", "vi", "de", "ar")
_MIXED_SEGMENTATION_LANGS = ("zh",)
MLQA_LANGUAGES: tuple[str, ...] = _WHITESPACE_LANGS + _MIXED_SEGMENTATION_LANGS

# Article patterns copied from evaluate_mlqa.py::normalize_answer.remove_articles.
# hi and zh have no articles. The ar pattern is the official one verbatim: the first branch
# can never match (``^`` after characters), so in effect every "ال" is replaced by a space.
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": re.compile(r"\b(a|an|the)\b"),
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "hi": None,
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "ar": re.compile(r"\sال^|ال"),
    "zh": None,
}
_CJK = re.compile(r"[\u4e00-\u9fa5]")  # the official script's range, not the full CJK block


def _mixed_segmentation(text: str) -> list[str]:
    """evaluate_mlqa.py ``mixed_segmentation``: each CJK char (or punctuation) is a token,
    runs of other characters are whitespace-split."""
    punct = _mlqa_punct()
    segs_out: list[str] = []
    temp_str = ""
    for char in text:
        if _CJK.search(char) or char in punct:
            if temp_str != "":
                segs_out.extend(temp_str.split())
                temp_str = ""
            segs_out.append(char)
        else:
            temp_str += char
    if temp_str != "":
        segs_out.extend(temp_str.split())
    return segs_out


def _check_mlqa_language(language: str) -> None:
    if language not in MLQA_LANGUAGES:
        raise ValueError(
            f"mlqa: unknown answer language {language!r}; evaluate_mlqa.py supports {list(MLQA_LANGUAGES)}."
        )


def normalize_mlqa_answer(s: str, language: str) -> str:
    """evaluate_mlqa.py ``normalize_answer``: lower, strip (unicode) punctuation, drop the
    language's articles, then re-join tokens (mixed segmentation for zh) with single spaces."""
    _check_mlqa_language(language)
    s = s.lower()
    punct = _mlqa_punct()
    s = "".join(ch for ch in s if ch not in punct)
    pattern = _MLQA_ARTICLES[language]
    if pattern is not None:
        s = pattern.sub(" ", s)
    tokens = _mixed_segmentation(s) if language in _MIXED_SEGMENTATION_LANGS else s.split()
    return " ".join(t for t in tokens if t.strip() != "")


def mlqa(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], language: str
) -> dict[str, float]:
    """MLQA EM/F1 with the answer language's normalisation (xtreme ``third_party/evaluate_mlqa.py``).

    ``language`` is the context/answer language (one of :data:`MLQA_LANGUAGES`). For zh each
    CJK character is a token, so F1 is character-level there.
    """
    _check_mlqa_language(language)
    return _qa_evaluate(
        "mlqa",
        predictions,
        references,
        lambda s: normalize_mlqa_answer(s, language),
        str.split,  # the official f1_score splits the normalised (already segmented) string
    )


# --------------------------------------------------------------------------- BUCC

Candidate = tuple[str, str, float]
Pair = tuple[str, str]


def _candidate_scores(candidates: Iterable[Candidate]) -> dict[Pair, float]:
    """(src, trg) -> score, keeping the max score of duplicates (utils_retrieve.read_candidate2score)."""
    out: dict[Pair, float] = {}
    for src, trg, score in candidates:
        key = (str(src), str(trg))
        score = float(score)
        out[key] = max(score, out.get(key, score))
    return out


def _gold_pairs(gold: Iterable[Pair]) -> set[Pair]:
    return {(str(s), str(t)) for s, t in gold}


def _prf(ncorrect: int, npredicted: int, ngold: int) -> tuple[float, float, float]:
    if ncorrect == 0:
        return 0.0, 0.0, 0.0
    precision = ncorrect / npredicted
    recall = ncorrect / ngold
    return precision, recall, 2 * precision * recall / (precision + recall)


def select_bucc_threshold(candidates: Iterable[Candidate], gold: Iterable[Pair]) -> float:
    """Pick the mining threshold that maximises F1 on (dev) gold pairs (utils_retrieve.bucc_optimize).

    Candidates are sorted by descending score (stable, so ties keep input order); walking down
    the list, whenever F1 strictly improves the threshold becomes the midpoint between that
    candidate's score and the next one's. Returns 0.0 when no candidate is gold (official default).
    """
    scores = _candidate_scores(candidates)
    gold_set = _gold_pairs(gold)
    _check_nonempty("select_bucc_threshold (candidates)", scores)
    _check_nonempty("select_bucc_threshold (gold)", gold_set)
    items = sorted(scores.items(), key=lambda kv: -kv[1])
    threshold = 0.0
    best_f1 = 0.0
    ncorrect = 0
    for i, (pair, score) in enumerate(items):
        if pair in gold_set:
            ncorrect += 1
        _, _, f1 = _prf(ncorrect, i + 1, len(gold_set))
        if f1 > best_f1:
            best_f1 = f1
            # The official code indexes items[i + 1] and would crash at the last candidate;
            # there we use its own score, which (with >=) extracts every candidate.
            threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
    return threshold


bucc_optimize = select_bucc_threshold  # the official name


def bucc_extract(candidates: Iterable[Candidate], threshold: float) -> set[Pair]:
    """Pairs whose (max) score is >= threshold (utils_retrieve.bucc_extract)."""
    return {pair for pair, score in _candidate_scores(candidates).items() if score >= threshold}


def bucc_f1(candidates: Iterable[Candidate], gold: Iterable[Pair], threshold: float) -> dict[str, float]:
    """BUCC 2018 precision/recall/F1 of the pairs mined at ``threshold`` (utils_retrieve.bucc_eval).

    Choose ``threshold`` on the dev split with :func:`select_bucc_threshold`, then apply it
    here to test. Recall counts every gold pair, including ones absent from the candidates.
    """
    candidates = list(candidates)
    gold_set = _gold_pairs(gold)
    _check_nonempty("bucc_f1 (candidates)", candidates)
    _check_nonempty("bucc_f1 (gold)", gold_set)
    predicted = bucc_extract(candidates, threshold)
    precision, recall, f1 = _prf(len(predicted & gold_set), len(predicted), len(gold_set))
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}


# --------------------------------------------------------------------------- Tatoeba


def tatoeba_accuracy(predicted_index: Sequence[int], gold_index: Sequence[int]) -> dict[str, float]:
    """Share of source sentences whose nearest target is the gold one (xtreme Tatoeba accuracy)."""
    _check_nonempty("tatoeba_accuracy", predicted_index)
    _check_same_length("tatoeba_accuracy", predicted_index, gold_index)
    correct = sum(int(int(p) == int(g)) for p, g in zip(predicted_index, gold_index, strict=True))
    return {"accuracy": 100.0 * correct / len(predicted_index)}


# --------------------------------------------------------------------------- registry

METRICS: dict[str, Callable[..., dict[str, float]]] = {
    "accuracy": accuracy,
    "seqeval_f1": seqeval_f1,
    "udpos_f1": udpos_f1,
    "squad": squad,
    "mlqa": mlqa,
    "bucc_f1": bucc_f1,
    "tatoeba_accuracy": tatoeba_accuracy,
}

_PRIMARY: dict[str, str] = {
    "accuracy": "accuracy",
    "seqeval_f1": "f1",
    "udpos_f1": "f1",
    "squad": "f1",
    "mlqa": "f1",
    "bucc_f1": "f1",
    "tatoeba_accuracy": "accuracy",
}


def primary_value(metric_name: str, result: Mapping[str, float]) -> float:
    """The headline number of a metric's result: F1 for span/QA/BUCC metrics, else accuracy."""
    if metric_name not in _PRIMARY:
        raise ValueError(f"primary_value: unknown metric {metric_name!r}; known: {sorted(_PRIMARY)}.")
    key = _PRIMARY[metric_name]
    if key not in result:
        raise ValueError(
            f"primary_value: result for {metric_name!r} has no {key!r} (keys: {sorted(result)})."
        )
    return float(result[key])
