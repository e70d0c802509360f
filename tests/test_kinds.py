"""Task kinds and the registry: one object per kind, duplicate names refused, scoped overrides restored."""

from __future__ import annotations

import pytest

from xw import metrics
from xw.errors import DuplicateTaskError, XWError
from xw.kinds import MODEL_KINDS, model_kind
from xw.kinds.base import apply_metric
from xw.tasks import KINDS, TaskSpec, all_tasks, get_task, override, register
from xw.tasks.base import Kind


def _spec(name: str, kind: str = "classification", **fields) -> TaskSpec:
    return TaskSpec(name=name, kind=kind, family=kind, role="target", languages=("en",), metric="accuracy",
                    loader=lambda *a: None, **fields)


# ----------------------------------------------------------------------------- kinds


def test_every_kind_name_has_a_data_kind_and_a_model_kind():
    assert tuple(KINDS) == Kind.__args__  # the Literal of TaskSpec.kind and the registry agree
    assert set(MODEL_KINDS) == set(KINDS)
    for name, kind in KINDS.items():
        assert kind.name == name
        assert isinstance(MODEL_KINDS[name], type(kind))  # the model side extends the data side
        assert MODEL_KINDS[name].trained == kind.trained
    assert model_kind(get_task("xnli")) is MODEL_KINDS["classification"]
    assert get_task("xquad").task_kind is KINDS["qa"]


def test_only_retrieval_is_untrained_and_it_has_no_head_or_features():
    assert {name for name, kind in KINDS.items() if not kind.trained} == {"retrieval"}
    task = _spec("kinds-bitext", kind="retrieval")
    with pytest.raises(XWError, match="has no trainable head"):
        model_kind(task).head_class(task)
    with pytest.raises(ValueError, match="is not trained"):
        model_kind(task).featurize(task, [], None, 16, 8, True)
    with pytest.raises(ValueError, match="no canonical Dataset schema"):
        KINDS["retrieval"].schema()


def test_label_set_is_given_to_the_heads_that_have_one_output_per_label():
    assert {name for name, kind in KINDS.items() if kind.labelled_head} == {"classification", "tagging"}
    kwargs = model_kind(_spec("kinds-cls", label_names=("no", "yes"))).head_kwargs(
        _spec("kinds-cls", label_names=("no", "yes")))
    assert kwargs == {"num_labels": 2, "id2label": {0: "no", 1: "yes"}, "label2id": {"no": 0, "yes": 1}}
    assert model_kind(_spec("kinds-qa", kind="qa")).head_kwargs(_spec("kinds-qa", kind="qa")) == {}


def test_canonical_schemas_keep_their_columns_even_for_empty_rows():
    empty = KINDS["qa"].to_dataset([])
    assert empty.column_names == ["id", "context", "question", "answers"] and len(empty) == 0
    assert list(KINDS["classification"].schema(pair=True)) == ["text", "text_pair", "label"]
    assert list(KINDS["classification"].schema()) == ["text", "label"]
    assert list(KINDS["tagging"].schema()) == ["tokens", "tags"]
    assert list(KINDS["multiple_choice"].schema()) == ["context", "choices", "label"]


def test_qa_windows_and_truncation():
    assert KINDS["qa"].trained_length(100, max_length=384, doc_stride=128) == 100
    assert KINDS["qa"].trained_length(500, max_length=384, doc_stride=128) == 2 * 384  # two windows
    assert KINDS["classification"].trained_length(500, max_length=256, doc_stride=128) == 256


def test_multiple_choice_counts_one_sequence_per_choice():
    examples = [{"context": "c", "choices": ["a", "b", "c", "d"], "label": 0}]
    assert KINDS["multiple_choice"].sequences_per_example(examples) == 4
    assert KINDS["classification"].sequences_per_example([{"text": "t", "label": 0}]) == 1


def test_the_mlqa_metric_is_declared_by_the_task_and_gets_the_language():
    declared = {name for name, spec in all_tasks().items() if spec.metric_needs_language}
    assert declared == {"mlqa"}
    predictions, references = {"q": "el perro"}, {"q": ["perro"]}  # Spanish drops the article 'el'
    mlqa = get_task("mlqa")
    assert apply_metric(mlqa, predictions, references, "es") == metrics.mlqa(predictions, references, "es")
    assert apply_metric(mlqa, predictions, references, "es")["exact_match"] == 100.0
    squad = apply_metric(get_task("xquad"), predictions, references, "es")
    assert squad == metrics.squad(predictions, references) and squad["exact_match"] == 0.0


# ----------------------------------------------------------------------------- registry


def test_duplicate_registration_is_refused_with_the_name_and_the_fix():
    first = _spec("kinds-dup")
    with override(first):
        with pytest.raises(DuplicateTaskError, match=r"'kinds-dup' is already registered.*override"):
            register(_spec("kinds-dup", label_names=("a",)))
        assert get_task("kinds-dup") is first  # the first registration stands
    with pytest.raises(DuplicateTaskError, match="'xnli'"):
        register(_spec("xnli"))
    assert get_task("xnli").kind == "classification" and "kinds-dup" not in all_tasks()


def test_scoped_override_replaces_and_restores():
    xnli = get_task("xnli")
    before = all_tasks()
    replacement, new = _spec("xnli", label_names=("x",)), _spec("kinds-new")
    with override(replacement, new) as specs:
        assert specs == (replacement, new)
        assert get_task("xnli") is replacement and get_task("kinds-new") is new
    assert get_task("xnli") is xnli and "kinds-new" not in all_tasks()
    assert all_tasks() == before
    with pytest.raises(RuntimeError), override(new):
        raise RuntimeError("the registry is restored on errors too")
    assert "kinds-new" not in all_tasks()
    with pytest.raises(ValueError, match="is not one of"):
        with override(_spec("kinds-bad", kind="regression")):
            pass
    assert "kinds-bad" not in all_tasks()
