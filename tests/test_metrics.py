"""Hand-computed checks of xw.metrics against the official XTREME / SQuAD / MLQA / BUCC logic."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from xw.metrics import (
    METRICS,
    MLQA_LANGUAGES,
    accuracy,
    bucc_extract,
    bucc_f1,
    bucc_optimize,
    mlqa,
    normalize_mlqa_answer,
    normalize_squad_answer,
    primary_value,
    select_bucc_threshold,
    seqeval_f1,
    squad,
    tatoeba_accuracy,
)

# --------------------------------------------------------------------------- accuracy


def test_accuracy_flat_labels() -> None:
    # 3 of 4 equal -> 3/4 = 75.0
    assert accuracy([0, 1, 2, 1], [0, 1, 1, 1]) == {"accuracy": 75.0}


def test_accuracy_numpy_labels() -> None:
    assert accuracy(np.array([1, 0]), np.array([1, 1])) == {"accuracy": 50.0}


def test_accuracy_tagging_is_token_level() -> None:
    # sentence 1: N==N, V!=N -> 1/2; sentence 2: 3/3 -> total 4 of 5 tokens = 80.0
    # (sentence-level accuracy would be 1/2 = 50.0)
    preds = [["NOUN", "VERB"], ["DET", "NOUN", "VERB"]]
    refs = [["NOUN", "NOUN"], ["DET", "NOUN", "VERB"]]
    assert accuracy(preds, refs)["accuracy"] == pytest.approx(80.0)


def test_accuracy_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])
    with pytest.raises(ValueError, match=r"3 predictions but 2 references"):
        accuracy([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match=r"sentence 1 has 1 predicted labels but 2 reference"):
        accuracy([["A"], ["A"]], [["A"], ["A", "B"]])
    with pytest.raises(ValueError, match="both be flat"):
        accuracy([["A"]], ["A"])


# --------------------------------------------------------------------------- seqeval


def test_seqeval_partial_span_is_wrong() -> None:
    # gold spans: PER[0:2], LOC[3]; predicted spans: PER[0:1] (partial -> wrong), LOC[3] (right)
    # sentence 2: no gold spans; predicted ORG[0:2] (wrong)
    # predicted 3, gold 2, correct 1 -> P = 1/3, R = 1/2, F1 = 2*(1/6)/(5/6) = 0.4
    refs = [["B-PER", "I-PER", "O", "B-LOC"], ["O", "O"]]
    preds = [["B-PER", "O", "O", "B-LOC"], ["B-ORG", "I-ORG"]]
    out = seqeval_f1(preds, refs)
    assert out["precision"] == pytest.approx(100 / 3)
    assert out["recall"] == pytest.approx(50.0)
    assert out["f1"] == pytest.approx(40.0)


def test_seqeval_default_mode_is_lenient_like_conlleval() -> None:
    # XTREME uses seqeval's default mode: a span opened by I-PER counts as PER[0:2] -> exact match.
    out = seqeval_f1([["I-PER", "I-PER", "O"]], [["B-PER", "I-PER", "O"]])
    assert out == {"f1": 100.0, "precision": 100.0, "recall": 100.0}


def test_seqeval_on_bare_pos_tags_matches_xtreme_quirk() -> None:
    # XTREME/jiant score UD-POS with seqeval too. Bare tags: first char is read as the prefix and
    # runs of one tag merge: gold NOUN NOUN VERB DET -> OUN[0:2], ERB[2], ET[3];
    # pred NOUN VERB VERB DET -> OUN[0], ERB[1:3], ET[3]; only ET[3] matches -> P = R = F1 = 1/3
    # (token accuracy of the same input is 3/4 = 75).
    gold = [["NOUN", "NOUN", "VERB", "DET"]]
    pred = [["NOUN", "VERB", "VERB", "DET"]]
    out = seqeval_f1(pred, gold)
    assert out == pytest.approx({"f1": 100 / 3, "precision": 100 / 3, "recall": 100 / 3})
    assert accuracy(pred, gold)["accuracy"] == 75.0


def test_seqeval_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        seqeval_f1([], [])
    with pytest.raises(ValueError, match=r"1 predictions but 2 references"):
        seqeval_f1([["O"]], [["O"], ["O"]])
    with pytest.raises(ValueError, match=r"sentence 0 has 2 predicted tags but 1 reference"):
        seqeval_f1([["O", "O"]], [["O"]])


# --------------------------------------------------------------------------- SQuAD


def test_squad_normalisation() -> None:
    assert normalize_squad_answer("  The  Eiffel-Tower!! ") == "eiffeltower"
    assert normalize_squad_answer("An apple a day") == "apple day"


def test_squad_em_f1_with_missing_and_unanswerable(caplog: pytest.LogCaptureFixture) -> None:
    # q1: "the eiffel tower!" -> "eiffel tower" == gold        -> EM 1, F1 1
    # q2: "in paris france" = [in, paris, france]
    #     vs "paris": common 1, P=1/3, R=1 -> F1 = 0.5
    #     vs "the city of paris" -> [city, of, paris]: P=1/3, R=1/3 -> F1 = 1/3;  max = 0.5, EM 0
    # q3: no prediction                                          -> 0, 0 (official: warn, score 0)
    # q4: unanswerable (gold []) and prediction ""               -> EM 1, F1 1
    # EM = (1+0+0+1)/4 = 50.0; F1 = (1+0.5+0+1)/4 = 62.5; "extra" id is ignored.
    preds = {"q1": "The Eiffel Tower!", "q2": "in Paris France", "q4": "", "extra": "x"}
    refs = {
        "q1": ["Eiffel Tower"],
        "q2": ["Paris", "the city of Paris"],
        "q3": ["anything"],
        "q4": [],
    }
    with caplog.at_level(logging.WARNING, logger="xw.metrics"):
        out = squad(preds, refs)
    assert out["exact_match"] == pytest.approx(50.0)
    assert out["f1"] == pytest.approx(62.5)
    assert "1 of 4 questions have no prediction" in caplog.text and "'q3'" in caplog.text


def test_squad_unanswerable_with_answer_scores_zero() -> None:
    # gold [] -> [""]; prediction "Paris" != "" -> EM 0, F1 0
    assert squad({"q": "Paris"}, {"q": []}) == {"exact_match": 0.0, "f1": 0.0}


def test_squad_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        squad({"q": "a"}, {})
    with pytest.raises(ValueError, match="list of answer strings"):
        squad({"q": "a"}, {"q": "a"})


# --------------------------------------------------------------------------- MLQA


def test_mlqa_chinese_mixed_segmentation() -> None:
    # q1: pred "北京大学。" -> drop "。" (unicode P) -> 北 京 大 学 (4 tokens)
    #     gold "在北京大学" -> 在 北 京 大 学 (5 tokens); common 4: P = 1, R = 4/5
    #     F1 = 2 * 0.8 / 1.8 = 8/9; EM 0
    # q2: pred "2008年奥运会" -> [2008, 年, 奥, 运, 会] (5)
    #     gold "2008 年 夏季奥运会" -> [2008, 年, 夏, 季, 奥, 运, 会] (7); common 5: P = 1, R = 5/7
    #     F1 = 2*(5/7)/(12/7) = 5/6; EM 0
    # F1 = (8/9 + 5/6)/2 = 31/36 -> 86.11; EM = 0
    assert normalize_mlqa_answer("北京大学。", "zh") == "北 京 大 学"
    assert normalize_mlqa_answer("2008年 iPhone手机", "zh") == "2008 年 iphone 手 机"
    preds = {"q1": "北京大学。", "q2": "2008年奥运会"}
    refs = {"q1": ["在北京大学"], "q2": ["2008 年 夏季奥运会"]}
    out = mlqa(preds, refs, "zh")
    assert out["f1"] == pytest.approx(100 * 31 / 36)
    assert out["exact_match"] == 0.0
    # Whitespace tokenisation (any other language) sees one token each side -> no overlap.
    assert mlqa({"q1": "北京大学"}, {"q1": ["在北京大学"]}, "en")["f1"] == 0.0


def test_mlqa_german_and_spanish_articles() -> None:
    # de removes "der": "vertrag von versailles" == gold -> EM 100, F1 100
    de = mlqa({"q": "der Vertrag von Versailles"}, {"q": ["Vertrag von Versailles"]}, "de")
    assert de == {"exact_match": 100.0, "f1": 100.0}
    # en keeps "der": 4 pred tokens vs 3 gold, common 3 -> P = 3/4, R = 1, F1 = 1.5/1.75 = 6/7
    en = mlqa({"q": "der Vertrag von Versailles"}, {"q": ["Vertrag von Versailles"]}, "en")
    assert en["exact_match"] == 0.0 and en["f1"] == pytest.approx(600 / 7)
    # es removes "la" and "el" as whole words only ("elefante" stays)
    es = mlqa({"a": "la Guerra Civil", "b": "el elefante"}, {"a": ["Guerra Civil"], "b": ["elefante"]}, "es")
    assert es == {"exact_match": 100.0, "f1": 100.0}
    assert normalize_mlqa_answer("Die Katze und das Haus", "de") == "katze und haus"


def test_mlqa_unicode_punctuation_and_arabic() -> None:
    # « » are unicode punctuation (MLQA strips them) but not string.punctuation (SQuAD keeps them)
    assert mlqa({"q": "«Paris»"}, {"q": ["Paris"]}, "en") == {"exact_match": 100.0, "f1": 100.0}
    assert squad({"q": "«Paris»"}, {"q": ["Paris"]}) == {"exact_match": 0.0, "f1": 0.0}
    # ar: every "ال" is replaced by a space (official regex) -> "الكتاب" == "كتاب"
    assert mlqa({"q": "الكتاب"}, {"q": ["كتاب"]}, "ar")["exact_match"] == 100.0
    # hi: no article removal, whitespace tokens
    assert normalize_mlqa_answer("भारत की राजधानी।", "hi") == "भारत की राजधानी"


def test_mlqa_errors() -> None:
    assert set(MLQA_LANGUAGES) == {"en", "es", "de", "ar", "hi", "vi", "zh"}
    with pytest.raises(ValueError, match="unknown answer language 'fr'"):
        mlqa({"q": "a"}, {"q": ["a"]}, "fr")
    with pytest.raises(ValueError, match="empty"):
        mlqa({}, {}, "en")


# --------------------------------------------------------------------------- BUCC

DEV_CANDIDATES = [
    ("s1", "t1", 0.9),  # gold
    ("s2", "t2", 0.8),  # gold
    ("s3", "t9", 0.7),  # wrong
    ("s4", "t4", 0.6),  # gold
    ("s5", "t5", 0.5),  # wrong
]
DEV_GOLD = {("s1", "t1"), ("s2", "t2"), ("s4", "t4"), ("s6", "t6")}  # s6 never mined


def test_bucc_threshold_selection_by_hand() -> None:
    # walk down by score, ngold = 4:
    #   top1: P 1/1, R 1/4 -> F1 0.400 (best) -> th = (0.9+0.8)/2 = 0.85
    #   top2: P 2/2, R 2/4 -> F1 0.667 (best) -> th = (0.8+0.7)/2 = 0.75
    #   top3: P 2/3, R 2/4 -> F1 4/7 = 0.571
    #   top4: P 3/4, R 3/4 -> F1 0.750 (best) -> th = (0.6+0.5)/2 = 0.55
    #   top5: P 3/5, R 3/4 -> F1 0.667
    th = select_bucc_threshold(DEV_CANDIDATES, DEV_GOLD)
    assert th == pytest.approx(0.55)
    assert bucc_optimize is select_bucc_threshold
    # at 0.55 the top 4 are extracted: correct 3 -> P = 3/4, R = 3/4, F1 = 75
    dev = bucc_f1(DEV_CANDIDATES, DEV_GOLD, th)
    assert dev == pytest.approx({"f1": 75.0, "precision": 75.0, "recall": 75.0})


def test_bucc_threshold_applied_to_test_is_inclusive() -> None:
    # threshold 0.55 with >=: a (0.56, gold) and b (0.55, wrong) extracted, c (0.54, gold) not
    # correct 1 of 2 extracted, 1 of 2 gold -> P = R = F1 = 50
    test = [("a", "x", 0.56), ("b", "y", 0.55), ("c", "z", 0.54)]
    gold = [("a", "x"), ("c", "z")]
    assert bucc_extract(test, 0.55) == {("a", "x"), ("b", "y")}
    assert bucc_f1(test, gold, 0.55) == pytest.approx({"f1": 50.0, "precision": 50.0, "recall": 50.0})


def test_bucc_edge_cases() -> None:
    # best F1 at the last candidate: official code would index past the end; we use its score
    assert select_bucc_threshold([("a", "x", 0.9), ("b", "y", 0.8)], {("a", "x"), ("b", "y")}) == 0.8
    # no gold pair among the candidates -> official default threshold 0
    assert select_bucc_threshold([("a", "y", 0.9)], {("a", "x")}) == 0.0
    assert bucc_f1([("a", "y", 0.9)], {("a", "x")}, 0.0) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    # duplicate candidates keep their max score (read_candidate2score)
    assert bucc_extract([("a", "x", 0.2), ("a", "x", 0.9), ("a", "x", 0.1)], 0.5) == {("a", "x")}
    with pytest.raises(ValueError, match="empty"):
        select_bucc_threshold([], DEV_GOLD)
    with pytest.raises(ValueError, match="gold.*empty"):
        bucc_f1(DEV_CANDIDATES, set(), 0.5)


# --------------------------------------------------------------------------- Tatoeba


def test_tatoeba_accuracy() -> None:
    # 3 of 4 nearest neighbours are the gold index -> 75.0
    assert tatoeba_accuracy([0, 2, 2, 3], [0, 1, 2, 3]) == {"accuracy": 75.0}
    assert tatoeba_accuracy(np.array([1, 0]), np.arange(2)) == {"accuracy": 0.0}
    with pytest.raises(ValueError, match=r"2 predictions but 3 references"):
        tatoeba_accuracy([0, 1], [0, 1, 2])
    with pytest.raises(ValueError, match="empty"):
        tatoeba_accuracy([], [])


# --------------------------------------------------------------------------- registry


def test_registry_and_primary_value() -> None:
    assert set(METRICS) == {"accuracy", "seqeval_f1", "udpos_f1", "squad", "mlqa", "bucc_f1", "tatoeba_accuracy"}
    assert METRICS["mlqa"] is mlqa
    assert primary_value("squad", {"f1": 62.5, "exact_match": 50.0}) == 62.5
    assert primary_value("mlqa", {"f1": 1.0, "exact_match": 0.0}) == 1.0
    assert primary_value("seqeval_f1", {"f1": 40.0, "precision": 1.0, "recall": 2.0}) == 40.0
    assert primary_value("bucc_f1", {"f1": 75.0, "precision": 1.0, "recall": 2.0}) == 75.0
    assert primary_value("accuracy", {"accuracy": 80.0}) == 80.0
    assert primary_value("tatoeba_accuracy", {"accuracy": 75.0}) == 75.0
    with pytest.raises(ValueError, match="unknown metric"):
        primary_value("bleu", {"bleu": 1.0})
    with pytest.raises(ValueError, match="no 'f1'"):
        primary_value("squad", {"exact_match": 1.0})
