"""Loading a study: its YAML file validated (xw.params) against the registered tasks (xw.tasks).

The one place that joins the two: xw.params knows the file's schema but sits below the tasks, so the
task registry's names and roles are passed in from here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from xw.params import Study, parse_study, read_study_file
from xw.tasks import all_tasks


def task_roles() -> dict[str, str]:
    """Every registered task's role (target / intermediate / both), by name."""
    return {name: spec.role for name, spec in all_tasks().items()}


def load_study(path: str | Path, output_root: str | Path | None = None) -> Study:
    """Load and validate a study file; raise ParameterError naming file, key and fix."""
    path = Path(path)
    return parse_study(read_study_file(path), path, output_root, task_roles())


def study_from_dict(raw: Any, path: str | Path, output_root: str | Path | None = None) -> Study:
    """Validate an already parsed study (tests, notebooks building a study in code)."""
    return parse_study(raw, Path(path), output_root, task_roles())
