"""Task registry: task specs, the five task kinds and the canonical example schemas.

Why: the one place where a task is declared and looked up; see :mod:`xw.tasks.base` for the
registry and :mod:`xw.tasks.kinds` for what each kind means for its data.
"""

from xw.tasks.base import (
    DataConfig,
    RetrievalSet,
    TaskSpec,
    all_tasks,
    get_task,
    label_names_of,
    override,
    register,
    with_label_names,
)
from xw.tasks.kinds import KINDS, TaskKind
from xw.tasks.labels import NLI_LABELS

__all__ = ["KINDS", "NLI_LABELS", "DataConfig", "RetrievalSet", "TaskKind", "TaskSpec", "all_tasks", "get_task",
           "label_names_of", "override", "register", "with_label_names"]
