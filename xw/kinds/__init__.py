"""The five task kinds with their model side: one :class:`ModelKind` object per kind, looked up by ``task.kind``.

Why: the kernels ask ``model_kind(task)`` how to featurise a task's examples, which head to put on
the encoder and how to score the outputs, instead of branching on the kind's name; a new kind is
one more module here plus its data side in :mod:`xw.tasks.kinds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from xw.kinds.base import IGNORE, Feature, ModelKind
from xw.kinds.classification import ClassificationModel
from xw.kinds.multiple_choice import MultipleChoiceModel
from xw.kinds.qa import QAModel
from xw.kinds.retrieval import RetrievalModel
from xw.kinds.tagging import TaggingModel
from xw.tasks import TaskSpec

MODEL_KINDS: Mapping[str, ModelKind] = MappingProxyType({kind.name: kind for kind in (
    ClassificationModel(), TaggingModel(), QAModel(), MultipleChoiceModel(), RetrievalModel())})


def model_kind(task: TaskSpec) -> ModelKind:
    """The model side of the task's kind (featurisation, head, scoring)."""
    return MODEL_KINDS[task.kind]


__all__ = ["IGNORE", "MODEL_KINDS", "Feature", "ModelKind", "model_kind"]
