"""Task registry (see xw.tasks.base for the canonical example schemas)."""

from xw.tasks.base import (
    KINDS,
    DataConfig,
    RetrievalSet,
    TaskSpec,
    all_tasks,
    get_task,
    label_names_of,
    register,
    with_label_names,
)

__all__ = ["KINDS", "DataConfig", "RetrievalSet", "TaskSpec", "all_tasks", "get_task", "label_names_of", "register",
           "with_label_names"]
