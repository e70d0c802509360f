"""What every kind of task must say to be trained and evaluated: the model side of a task kind.

Why: featurisation, the head class, how model outputs become predictions, and which metric
call scores them all differ by kind; a :class:`ModelKind` per kind owns them, so the kernels
(:mod:`xw.featurize`, :mod:`xw.models`, :mod:`xw.evaluate`) ask the kind instead of branching
on its name. A ModelKind extends the data side of its kind (:class:`xw.tasks.kinds.TaskKind`:
schema, trained or not, token counts), so one object answers both. The defaults here are those
of a kind that is not trained (retrieval).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from xw import metrics as xw_metrics
from xw.errors import XWError
from xw.tasks import TaskSpec
from xw.tasks.kinds import TaskKind

IGNORE = -100  # label of positions the loss and the metrics skip (special tokens, later sub-tokens)
Feature = dict[str, Any]


class Scores(dict[str, float]):
    """A metric's values (0-100 scale) plus the per-example predictions behind them.

    Why: a dict, so every caller that reads the metric keeps working, with the prediction rows
    (``example_index``, ``example_id``, ``gold``, ``prediction``, ``correct``, ...) riding along for the
    cell's predictions file (xw.results.write_predictions): both come from one decoding, so they agree.
    """

    def __init__(self, values: dict[str, float], predictions: Sequence[dict[str, Any]] = ()) -> None:
        super().__init__(values)
        self.predictions: list[dict[str, Any]] = list(predictions)


class ModelKind(TaskKind):
    """The model side of a kind. Subclasses set ``head`` and override featurize / score."""

    head: ClassVar[type[PreTrainedModel] | None] = None  # the transformers Auto* head class

    def featurize(self, task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                  max_length: int, doc_stride: int, train: bool, label_piece: str = "first") -> list[Feature]:
        """One split's examples -> model features (one per QA window, one per example otherwise).

        ``label_piece`` is tagging's rule for which sub-token carries a word's label (TrainConfig.tagging_label_piece);
        the other kinds have no per-word labels and ignore it."""
        raise ValueError(f"task {task.name!r}: kind {task.kind!r} is not trained")

    def head_class(self, task: TaskSpec) -> type[PreTrainedModel]:
        """The head model class put on the encoder for this task."""
        if self.head is None:
            raise XWError(f"task {task.name!r} of kind {task.kind!r} has no trainable head")
        return self.head

    def head_kwargs(self, task: TaskSpec) -> dict[str, Any]:
        """``from_pretrained`` arguments of the head: the label set, for kinds whose head has one output per label."""
        if not self.labelled_head:
            return {}
        if not task.label_names:
            raise XWError(f"task {task.name!r} has no label names; a data-derived label set (e.g. CCG's) must be "
                          "resolved first with xw.tasks.with_label_names(task, data_config)")
        return {"num_labels": task.num_labels, "id2label": dict(enumerate(task.label_names)),
                "label2id": {name: i for i, name in enumerate(task.label_names)}}

    def decode(self, task: TaskSpec, examples: Sequence[dict], features: list[Feature],
               outputs: list) -> tuple[Any, Any]:
        """Model outputs per feature -> (predictions, references) in the form the task's metric takes."""
        raise ValueError(f"task {task.name!r}: kind {task.kind!r} is evaluated by xw.retrieval")

    def prediction_rows(self, task: TaskSpec, examples: Sequence[dict], predictions: Any, references: Any,
                        language: str) -> list[dict[str, Any]]:
        """One row per example: its index and id, gold, prediction (label names, tags or answer text), correct."""
        raise ValueError(f"task {task.name!r}: kind {task.kind!r} is evaluated by xw.retrieval")

    def score(self, task: TaskSpec, examples: Sequence[dict], features: list[Feature], outputs: list,
              language: str) -> Scores:
        """Model outputs per feature -> predictions -> the task's metric (0-100 scale), with the prediction rows."""
        predictions, references = self.decode(task, examples, features, outputs)
        return Scores(apply_metric(task, predictions, references, language),
                      self.prediction_rows(task, examples, predictions, references, language))


def apply_metric(task: TaskSpec, predictions: Any, references: Any, language: str) -> dict[str, float]:
    """The task's declared metric; a metric declared language-aware (MLQA) also gets the evaluation language."""
    metric = xw_metrics.METRICS[task.metric]
    if task.metric_needs_language:
        return metric(predictions, references, language)
    return metric(predictions, references)


def argmax_decode(examples: Sequence[dict], outputs: list) -> tuple[list[int], list[int]]:
    """One label per example: the argmax of its logits against ``label`` (classification, multiple choice)."""
    return [int(np.argmax(o)) for o in outputs], [int(ex["label"]) for ex in examples]


def example_id(example: dict, index: int) -> str:
    """The example's own id where its schema has one (QA), else its position in the evaluated split."""
    return str(example.get("id", index))
