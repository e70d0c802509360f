"""XTREME's scoring where it differs from the naive one: UD-POS span F1, Tatoeba direction, BUCC 'max' mining."""

from __future__ import annotations

import pytest
import torch

from xw import metrics, retrieval
from xw.kinds.base import apply_metric
from xw.span_f1 import entities
from xw.tasks import RetrievalSet, get_task


def test_prefixless_tags_keep_their_full_type_as_seqeval_0_0_12() -> None:
    # seqeval 0.0.12 (XTREME's runs): tag = first char, type = whole tag. gold CCONJ NOUN -> CCONJ[0], NOUN[1];
    # pred SCONJ NOUN -> SCONJ[0] ('S' ends its chunk), NOUN[1]. 1 of 2 spans right: P = R = F1 = 50.
    # seqeval >= 1.0 reads both CCONJ and SCONJ as type "CONJ" and would give 100.
    gold, pred = [["CCONJ", "NOUN"]], [["SCONJ", "NOUN"]]
    assert entities(gold) == [("CCONJ", 0, 0), ("NOUN", 1, 1)]
    assert entities(pred) == [("SCONJ", 0, 0), ("NOUN", 1, 1)]
    assert metrics.seqeval_f1(pred, gold) == pytest.approx({"f1": 50.0, "precision": 50.0, "recall": 50.0})


def test_runs_merge_and_s_tags_split_across_sentences() -> None:
    # sentences are joined with an 'O': gold [NOUN NOUN] [SCONJ SCONJ] -> NOUN[0:1], SCONJ[3], SCONJ[4]
    # ('S' closes a chunk every word). pred [NOUN VERB] [SCONJ SCONJ] -> NOUN[0], VERB[1], SCONJ[3], SCONJ[4].
    # correct 2 (the SCONJs), predicted 4, gold 3: P = 50, R = 66.67, F1 = 2*.5*.6667/1.1667 = 57.14
    gold = [["NOUN", "NOUN"], ["SCONJ", "SCONJ"]]
    pred = [["NOUN", "VERB"], ["SCONJ", "SCONJ"]]
    assert entities(gold) == [("NOUN", 0, 1), ("SCONJ", 3, 3), ("SCONJ", 4, 4)]
    out = metrics.seqeval_f1(pred, gold)
    assert out["precision"] == pytest.approx(50.0)
    assert out["recall"] == pytest.approx(200 / 3)
    assert out["f1"] == pytest.approx(400 / 7)


def test_udpos_primary_is_span_f1_with_token_accuracy_as_second_row() -> None:
    udpos = get_task("udpos")
    assert (udpos.metric, udpos.primary_metric) == ("udpos_f1", "f1")
    # CCONJ/SCONJ example above: F1 50; token accuracy 1 of 2 = 50. gold DET NOUN, pred DET VERB: spans
    # DET[0] right, NOUN/VERB wrong -> F1 50; accuracy 50. A run NOUN NOUN predicted NOUN NOUN VERB-split:
    gold, pred = [["NOUN", "NOUN", "DET"]], [["NOUN", "VERB", "DET"]]
    # spans gold NOUN[0:1], DET[2]; pred NOUN[0], VERB[1], DET[2]: 1 correct, P = 1/3, R = 1/2, F1 = 40;
    # token accuracy 2/3 = 66.67 (the naive metric xw reported before).
    out = apply_metric(udpos, pred, gold, "en")
    assert out["f1"] == pytest.approx(40.0)
    assert out["accuracy"] == pytest.approx(200 / 3)
    assert get_task("mini-pos").metric == "accuracy"  # the demo's primary stays token accuracy


def _fake_embed(vectors: dict[str, list[float]]):
    def embed(model, tokenizer, texts, layer, max_length, device, batch_size=64):
        return torch.nn.functional.normalize(torch.tensor([vectors[t] for t in texts], dtype=torch.float32), dim=-1)
    return embed


def test_tatoeba_queries_with_english_and_keeps_the_other_direction(monkeypatch) -> None:
    # s0=(1,0) s1=(0,1); English t0=(.6,.8) t1=(0,1); gold s0-t0, s1-t1.
    # non-English queries: s0 -> t0 (.6 > 0) right, s1 -> t1 (1 > .8) right: 100.
    # English queries (XTREME: index on the non-English side): t0 -> s1 (.8 > .6) wrong, t1 -> s1 right: 50.
    monkeypatch.setattr(retrieval, "embed", _fake_embed({"s0": [1, 0], "s1": [0, 1], "t0": [.6, .8], "t1": [0, 1]}))
    data = RetrievalSet(["a", "b"], ["s0", "s1"], ["x", "y"], ["t0", "t1"], [("a", "x"), ("b", "y")])
    xtreme = retrieval.evaluate_retrieval(None, None, get_task("tatoeba"), data, None, 0, 8, torch.device("cpu"))
    assert xtreme == pytest.approx({"accuracy": 50.0, "accuracy_to_en": 100.0, "accuracy_from_en": 50.0})
    mini = retrieval.evaluate_retrieval(None, None, get_task("mini-retrieval"), data, None, 0, 8, torch.device("cpu"))
    assert mini["accuracy"] == 100.0  # the mini-world keeps its declared direction


def test_bucc_max_mining_takes_each_sentence_once() -> None:
    # a=(1,0), b=(.6,.8), one target x=(1,0). k = min(4, n): source means a 1, b .6; target mean x (1+.6)/2 = .8.
    # forward: a->x 1/((1+.8)/2) = 1.1111, b->x .6/((.6+.8)/2) = .8571; backward: x->a 1.1111.
    # pooled and sorted: (a,x) 1.1111 taken, (b,x) .8571 refused since x is taken.
    # The old forward-only mining kept (b,x) too.
    src = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.6, 0.8]]), dim=-1)
    tgt = torch.tensor([[1.0, 0.0]])
    mined = retrieval.mine_max(src, tgt)
    assert [(i, j) for i, j, _ in mined] == [(0, 0)]
    assert mined[0][2] == pytest.approx(1 / 0.9)


def test_bucc_backward_candidates_and_duplicates(monkeypatch) -> None:
    # sources a=(1,0), b=(.8,.6); targets x=(1,0), y=(.6,.8); the text "dup" appears twice among the sources.
    # Without "dup" (read_sent2id drops repeated sentences, mining merges them first), sims: a.x 1, a.y .6,
    # b.x .8, b.y .96 (+ dup=(0,1): dup.x 0, dup.y .8).
    # k = min(4, n): 2 targets -> top-2 means for sources; 3 unique sources -> top-3 means for targets.
    # source means (top-2): a (1+.6)/2 = .8, b (.96+.8)/2 = .88, dup (.8+0)/2 = .4
    # target means (top-3): x (1+.8+0)/3 = .6, y (.96+.8+.6)/3 = .7867
    # forward: a: x 1/.7 = 1.4286, y .6/.7933 = .756 -> x; b: x .8/.74 = 1.081, y .96/.8333 = 1.152 -> y;
    # dup: y .8/.5933 = 1.348 -> y. backward: x: a 1.4286; y: dup 1.348 vs b 1.152 -> dup.
    # greedy: (a,x) 1.4286, (a,x) again, (dup,y) 1.348 (takes y), (dup,y), (b,y) refused.
    # "dup" has no id -> candidates = [(a1, x1)] only; gold {(a1,x1),(b1,y1)}: threshold from the one
    # candidate, F1 = 2 * 1 * .5 / 1.5 = 66.67. (Forward-only mining without merging kept (b1,y1) as a candidate, so F1 100 was reachable.)
    vectors = {"a": [1, 0], "b": [.8, .6], "dup": [0, 1], "x": [1, 0], "y": [.6, .8]}
    monkeypatch.setattr(retrieval, "embed", _fake_embed(vectors))
    data = RetrievalSet(["a1", "b1", "d1", "d2"], ["a", "b", "dup", "dup"], ["x1", "y1"], ["x", "y"],
                        [("a1", "x1"), ("b1", "y1")])
    out = retrieval.evaluate_retrieval(None, None, get_task("bucc2018"), data, None, 0, 8, torch.device("cpu"))
    assert out["f1"] == pytest.approx(200 / 3)
    assert out["precision"] == pytest.approx(100.0)
    assert out["recall"] == pytest.approx(50.0)


def test_readme_metric_table_matches_the_registry():
    """README's table of real-target metrics states each target's metric and primary row as the registry has them."""
    from pathlib import Path

    from xw.tasks import all_tasks, get_task

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    header = "| target | XTREME's metric = xw's primary | xw `metric` / primary row | extra rows |"
    assert header in text, "README lost its metric table"
    table: dict[str, tuple[str, str]] = {}
    for line in text.split(header, 1)[1].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        for name in cells[0].split(","):
            table[name.strip()] = (cells[1], cells[2])
    from xw.xtreme.tasks import RealDataLoader

    # real = defined in xw.xtreme.tasks (other tests register fake target tasks in the same registry)
    real_targets = [get_task(n) for n in all_tasks()
                    if get_task(n).role == "target" and isinstance(get_task(n).loader, RealDataLoader)]
    assert {t.name for t in real_targets} == set(table), "every real target needs exactly one README row"
    for task in real_targets:
        xtreme, ours = table[task.name]
        assert ours == f"`{task.metric}` / `{task.primary_metric}`", task.name
        assert (task.primary_metric == "f1") == ("F1" in xtreme), task.name  # XTREME's metric is the primary
