"""Locating real task files under ``data.root`` and the one error for data that is not there.

Why: every local loader looks files up the same way (``<root>/download/<task>/`` as
google-research/xtreme's ``scripts/download_data.sh`` writes it, ``<root>/intermediate/<task>/``
for the intermediate tasks) and must fail the same way: a :class:`DataNotFoundError` naming the
task, split, language, every path looked at and how to get the data (the task's ``data_hint``),
because a silent fallback to other data would change what a reported number means.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from xw.errors import DataNotFoundError, XWError
from xw.tasks.base import RetrievalSet, all_tasks
from xw.xtreme.readers import Row, read_squad_json

log = logging.getLogger("xw.xtreme.local")  # one logger for all local-file loading

XTREME_SCRIPT = "google-research/xtreme's scripts/download_data.sh"

# reader(split, language, root, options) -> canonical rows (or a RetrievalSet) of one task
LocalReader = Callable[[str, str, Path, dict[str, Any]], "list[Row] | RetrievalSet"]


def hint_for(task: str, default: str = "see the task description") -> str:
    """How a user gets the task's data: the ``data_hint`` of its registered definition."""
    spec = all_tasks().get(task)
    return spec.data_hint if spec is not None and spec.data_hint else default


def missing(task: str, split: str, language: str, paths: Iterable[Path | str], why: str = "") -> DataNotFoundError:
    """The one error for absent data: task, split, language, every path looked at, and the fix."""
    looked = ", ".join(str(p) for p in paths) or "(nothing to look at)"
    reason = f": {why.rstrip('.')}" if why else ""
    return DataNotFoundError(
        f"task {task!r}: no {split!r} data for language {language!r}{reason}. Looked at: {looked}. "
        f"To get it: {hint_for(task)}."
    )


_WARNED: set[str] = set()


def warn_once(message: str, *args: Any) -> None:
    """Fallbacks are logged once per process, not on every (cached) load."""
    text = message % args
    if text not in _WARNED:
        _WARNED.add(text)
        log.warning("%s", text)


def unknown_split(task: str, split: str, known: Iterable[str]) -> XWError:
    return XWError(f"task {task!r}: unknown split {split!r} for data.source local; known: {sorted(known)}")


def first_file(paths: Sequence[Path]) -> Path | None:
    """The first of ``paths`` that is a file, or None."""
    return next((p for p in paths if p.is_file()), None)


def require(task: str, split: str, language: str, paths: Sequence[Path], why: str = "") -> Path:
    """The first of ``paths`` that is a file; none is a :func:`missing` error listing them all."""
    found = first_file(paths)
    if found is None:
        raise missing(task, split, language, paths, why)
    return found


def looks_like_placeholder(labels: Sequence[Any], minimum: int = 50) -> bool:
    """XTREME's public test files carry one constant placeholder label (xtreme issue 24)."""
    return len(labels) >= minimum and len(set(labels)) <= 1


def placeholder_labels(task: str, split: str, language: str, path: Path) -> DataNotFoundError:
    """The error for a file whose labels are placeholders, not gold labels."""
    return missing(task, split, language, [path],
                   why=f"{path.name} carries no real labels (XTREME strips or replaces test labels, "
                       "google-research/xtreme issue 24); evaluate on a split with real labels")


def download_path(root: Path, *parts: str) -> Path:
    """A path under xtreme's ``download/`` folder."""
    return root.joinpath("download", *parts)


def intermediate_path(root: Path, *parts: str) -> Path:
    """A path under the intermediate tasks' ``intermediate/`` folder."""
    return root.joinpath("intermediate", *parts)


def squad_paths(root: Path, name: str) -> list[Path]:
    """Where a SQuAD file may be: ``intermediate/squad/`` or ``download/squad/`` (where the xtreme script puts it)."""
    return [intermediate_path(root, "squad", name), download_path(root, "squad", name)]


def qa_rows(task: str, split: str, language: str, path: Path, unanswerable_ok: bool = False) -> list[Row]:
    """Canonical QA rows of a SQuAD-format file; a file without any answer is a placeholder (unless allowed)."""
    rows = read_squad_json(path)
    if not unanswerable_ok and rows and all(not r["answers"]["text"] for r in rows):
        raise placeholder_labels(task, split, language, path)
    return [dict(r, answers={k: list(v) for k, v in r["answers"].items()}) for r in rows]


def read_local(task: str, reader: LocalReader, split: str, language: str, root: Path | None,
               options: dict[str, Any] | None = None) -> list[Row] | RetrievalSet:
    """Rows (or a RetrievalSet) of one task/split/language, read by ``reader`` from the files under ``root``."""
    if root is None:
        raise XWError(f"task {task!r}: data.source is 'local' but data.root is not set; point it at the folder "
                      "that holds download/ (and intermediate/)")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise missing(task, split, language, [root], why="data.root does not exist")
    return reader(split, language, root, dict(options or {}))
