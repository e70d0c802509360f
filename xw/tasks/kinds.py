"""The five task kinds, as the data layer sees them: canonical schema, trained or not, token counts.

Why: everything that differs by kind and concerns the *data* (the arrow schema a loader's rows
become, whether the kind has a training set, how many tokens the model sees per example for
``xw plan``) lives on one object per kind, so no module branches on the kind's name. The model
side of a kind (featurisation, head, prediction post-processing) extends these classes in
:mod:`xw.kinds`, which sits above this layer. ``TaskSpec.kind`` stays the kind's name; its object
is ``KINDS[spec.kind]`` (or ``spec.task_kind``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from datasets import Dataset, Features


class TaskKind:
    """What one kind of task means for its examples. Subclasses set ``name`` and override what differs."""

    name: ClassVar[str] = ""
    trained: ClassVar[bool] = True  # False: scored straight from an encoder (retrieval), no training split
    labelled_head: ClassVar[bool] = False  # the head needs the task's label names (num_labels, id2label)

    def schema(self, pair: bool = False) -> Features:
        """The arrow schema of the kind's canonical rows (explicit, so empty answer lists keep their type)."""
        raise ValueError(f"no canonical Dataset schema for kind {self.name!r}")

    def to_dataset(self, rows: Sequence[Mapping[str, Any]], pair: bool = False) -> Dataset:
        """Canonical rows -> a ``datasets.Dataset`` with the kind's canonical features."""
        from datasets import Dataset

        features = self.schema(pair)
        columns = {name: [row[name] for row in rows] for name in features}
        return Dataset.from_dict(columns, features=features)

    def trained_length(self, n_tokens: float, max_length: int, doc_stride: int) -> float:
        """Tokens the model sees for one sequence of ``n_tokens``: truncated at ``max_length``."""
        if n_tokens <= max_length:
            return n_tokens
        return max_length

    def sequences_per_example(self, examples: Sequence[Mapping[str, Any]]) -> int:
        """How many encoder sequences one example becomes (before QA windowing): one."""
        return 1

    def __repr__(self) -> str:
        return f"<task kind {self.name!r}>"


class Classification(TaskKind):
    """Sequence(-pair) classification: ``text`` (str), optional ``text_pair`` (str), ``label`` (int)."""

    name = "classification"
    labelled_head = True

    def schema(self, pair: bool = False) -> Features:
        from datasets import Features, Value

        cols: dict[str, Any] = {"text": Value("string")}
        if pair:
            cols["text_pair"] = Value("string")
        cols["label"] = Value("int64")
        return Features(cols)


class Tagging(TaskKind):
    """Token tagging: ``tokens`` (list[str]), ``tags`` (list[int], indices into ``label_names``)."""

    name = "tagging"
    labelled_head = True

    def schema(self, pair: bool = False) -> Features:
        from datasets import Features, List, Value

        return Features({"tokens": List(Value("string")), "tags": List(Value("int64"))})


class QuestionAnswering(TaskKind):
    """Extractive QA: ``id``, ``context``, ``question`` (str), ``answers`` ({"text": [...], "answer_start": [...]}).

    Empty answer lists mean unanswerable (SQuAD v2.0). Long contexts are split into overlapping windows.
    """

    name = "qa"

    def schema(self, pair: bool = False) -> Features:
        from datasets import Features, List, Value

        return Features({"id": Value("string"), "context": Value("string"), "question": Value("string"),
                         "answers": {"text": List(Value("string")), "answer_start": List(Value("int64"))}})

    def trained_length(self, n_tokens: float, max_length: int, doc_stride: int) -> float:
        """A long context becomes overlapping windows of ``max_length``, each ``max_length - doc_stride`` on."""
        if n_tokens <= max_length:
            return n_tokens
        step = max(1, max_length - doc_stride)
        return (1 + math.ceil((n_tokens - max_length) / step)) * max_length


class MultipleChoice(TaskKind):
    """Multiple choice: ``context`` (str), ``choices`` (list[str]), ``label`` (int); each choice is one sequence."""

    name = "multiple_choice"

    def schema(self, pair: bool = False) -> Features:
        from datasets import Features, List, Value

        return Features({"context": Value("string"), "choices": List(Value("string")), "label": Value("int64")})

    def sequences_per_example(self, examples: Sequence[Mapping[str, Any]]) -> int:
        """Every choice is encoded with the context (the first example's choice count stands for all)."""
        return len(examples[0]["choices"])


class Retrieval(TaskKind):
    """Bitext retrieval: a :class:`xw.tasks.base.RetrievalSet` (not a Dataset), scored without training."""

    name = "retrieval"
    trained = False


CLASSIFICATION = Classification()
TAGGING = Tagging()
QA = QuestionAnswering()
MULTIPLE_CHOICE = MultipleChoice()
RETRIEVAL = Retrieval()

KINDS: Mapping[str, TaskKind] = MappingProxyType(
    {kind.name: kind for kind in (CLASSIFICATION, TAGGING, QA, MULTIPLE_CHOICE, RETRIEVAL)})
