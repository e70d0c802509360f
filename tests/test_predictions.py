"""Per-example predictions (issue 14): every evaluated language of every cell in one Parquet file per cell,
agreeing with the cell's metric rows; a failed cell leaves none."""

from __future__ import annotations

import datasets
import fake_tasks
import pandas as pd
import pytest
import yaml

from xw import metrics
from xw.cells import Cell, run_cell
from xw.layout import predictions_path, result_path
from xw.study import load_study
from xw.tasks import TaskSpec, override


def qa_loader(split: str, language: str, data) -> datasets.Dataset:
    rows = fake_tasks._sentences(32 if split == "train" else 8, seed=11 if split == "train" else 12)
    out = []
    for i, (text, label) in enumerate(rows):
        context = fake_tasks._render(text, language)
        answer = fake_tasks._render("red" if label else "blue", language)
        out.append({"id": f"{language}-{i}", "context": context, "question": "what is the cat ?",
                    "answers": {"text": [answer], "answer_start": [context.index(answer)]}})
    return datasets.Dataset.from_list(out)


def choice_loader(split: str, language: str, data) -> datasets.Dataset:
    rows = fake_tasks._sentences(32 if split == "train" else 8, seed=13 if split == "train" else 14)
    return datasets.Dataset.from_list([
        {"context": fake_tasks._render(text.rsplit(" is ", 1)[0] + " is", language),
         "choices": [fake_tasks._render(c, language) for c in ("blue .", "red .")], "label": label}
        for text, label in rows])


FAKE_QA = TaskSpec(name="fake-qa-x", kind="qa", family="qa", role="target", languages=("en", "xx", "yy"),
                   metric="squad", loader=qa_loader, primary_metric="f1")
FAKE_CHOICE = TaskSpec(name="fake-choice-x", kind="multiple_choice", family="multiple_choice", role="target",
                       languages=("en", "xx", "yy"), metric="accuracy", loader=choice_loader,
                       primary_metric="accuracy")
TARGETS = ["fake-colour-x", "fake-nouns-x", "fake-qa-x", "fake-choice-x"]


@pytest.fixture
def study(tmp_path, tiny_checkpoint):
    raw = fake_tasks.study_dict({"s": str(tiny_checkpoint)})
    raw["intermediate_tasks"], raw["target_tasks"] = ["none"], TARGETS + ["fake-bitext"]
    raw["training"]["default"]["epochs"] = 1
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with override(FAKE_QA, FAKE_CHOICE):
        yield load_study(path, output_root=tmp_path / "outputs")


def _metric(rows: pd.DataFrame, language: str, name: str) -> float:
    return float(rows[(rows.language == language) & (rows.metric == name)].value.iloc[0])


def test_every_kind_writes_predictions_for_every_language_that_agree_with_its_rows(study):
    for target in TARGETS:
        cell = Cell("target", "s", "none", 0, target)
        rows = run_cell(study, cell, progress=False)
        frame = pd.read_parquet(predictions_path(study, cell))
        assert set(frame.language) == set(rows.language) == {"en", "xx", "yy"}, target
        assert (frame[["scale", "intermediate_task", "target_task", "seed"]].drop_duplicates().values.tolist()
                == [["s", "none", target, 0]])
        assert set(frame.split) == set(rows.split)
        for language, part in frame.groupby("language"):
            assert part.example_index.tolist() == list(range(len(part)))  # every example once, in order
            if target == "fake-nouns-x":  # seqeval F1 from the stored tag sequences is the f1 row
                recomputed = metrics.seqeval_f1([list(p) for p in part.prediction], [list(g) for g in part.gold])
                assert recomputed["f1"] == pytest.approx(_metric(rows, language, "f1"))
            elif target == "fake-qa-x":  # exact match from `correct`, F1 from the per-question F1
                assert 100 * part.correct.mean() == pytest.approx(_metric(rows, language, "exact_match"))
                assert part.f1.mean() == pytest.approx(_metric(rows, language, "f1"))
                assert all(isinstance(p, str) for p in part.prediction) and all(len(g) for g in part.gold)
            else:  # classification, multiple choice: accuracy from `correct`
                assert 100 * part.correct.mean() == pytest.approx(_metric(rows, language, "accuracy"))
                assert (part.correct == (part.gold == part.prediction)).all()
        if target == "fake-colour-x":
            assert set(frame.gold) <= {"blue", "red"}  # label names, not indices


def test_retrieval_predictions_back_both_directions(study):
    cell = Cell("intermediate", "s", "none", 0)
    rows = run_cell(study, cell, progress=False)
    frame = pd.read_parquet(predictions_path(study, cell))
    assert set(frame.language) == set(rows.language) == {"xx", "yy"}
    for (language, direction), part in frame.groupby(["language", "direction"]):
        assert len(part) == 10  # every query of the pair
        assert 100 * part.correct.mean() == pytest.approx(_metric(rows, language, f"accuracy_{direction}"))
        assert (part.correct == (part.gold_index == part.predicted_index)).all()
    primary = frame[frame.direction == "to_en"]  # fake-bitext queries from the source side ('source')
    for language, part in primary.groupby("language"):
        assert 100 * part.correct.mean() == pytest.approx(_metric(rows, language, "accuracy"))


def test_a_failed_cell_leaves_no_predictions(study, monkeypatch):
    import xw.results

    cell = Cell("target", "s", "none", 0, "fake-colour-x")
    stale = predictions_path(study, cell)
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"from an earlier, killed run")

    def full_disk(*args, **kwargs):
        raise OSError(28, "disk full")

    monkeypatch.setattr(xw.results, "atomic_write_text", full_disk)  # the result file cannot be written
    with pytest.raises(OSError, match="disk full"):
        run_cell(study, cell, progress=False)
    assert not stale.exists() and not result_path(study, cell).exists()
