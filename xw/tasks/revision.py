"""Which data a number came from: the local files a load read (content hashes) and the hub revisions it used.

Why: a result row names its model's revision (xw.provenance); the data deserve the same, and a changed
data file must not silently reuse a phase-(ii) checkpoint trained on the old one (xw.checkpoints). Loaders
report what they read here (:func:`record_file` from xw.xtreme.readers' parsers, :func:`record_hub` from
xw.xtreme.hub), a caller collects it with :func:`recording`, and :func:`revision_json` makes the compact
``data_revision`` value: ``{"files": {path relative to data.root: sha256[:16]}, "hub": {dataset id: revision}}``,
``{}`` for data generated in memory (the mini-world, the tests' fake tasks).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from xw.provenance import sha256_files
from xw.tasks.base import DataConfig, TaskSpec

UNPINNED = "unpinned"


@dataclass
class Reads:
    """What loads read while a :func:`recording` was open: local files, and hub dataset id -> revision."""

    files: set[Path] = field(default_factory=set)
    hub: dict[str, str] = field(default_factory=dict)

    def update(self, other: Reads) -> None:
        self.files |= other.files
        self.hub.update(other.hub)


_ACTIVE: contextvars.ContextVar[tuple[Reads, ...]] = contextvars.ContextVar("xw_data_reads", default=())


@contextlib.contextmanager
def recording() -> Iterator[Reads]:
    """Collect every file and hub dataset read inside the block (nested recordings each get them all)."""
    reads = Reads()
    token = _ACTIVE.set((*_ACTIVE.get(), reads))
    try:
        yield reads
    finally:
        _ACTIVE.reset(token)


def record_file(path: Path | str) -> None:
    """A loader parsed ``path`` (called by the file parsers, cached parses included)."""
    for reads in _ACTIVE.get():
        reads.files.add(Path(path).resolve())


def record_hub(dataset: str, revision: str) -> None:
    """A loader read hub ``dataset`` at ``revision`` (the pin, the resolved commit, or 'unpinned')."""
    for reads in _ACTIVE.get():
        reads.hub[dataset] = revision


@functools.lru_cache(maxsize=512)
def _file_hash(path: str, mtime_ns: int, size: int) -> str:
    return sha256_files([Path(path)]).removeprefix("sha256:")


def file_hash(path: Path) -> str:
    """sha256 (16 hex digits) of a file's name and content, hashed again only when it changes."""
    stat = path.stat()
    return _file_hash(str(path), stat.st_mtime_ns, stat.st_size)


def summary(reads: Reads, root: Path | None) -> dict[str, dict[str, str]]:
    """The data revision of ``reads``: each file's hash under its path relative to ``root``, and the hub revisions."""
    out: dict[str, dict[str, str]] = {}
    if reads.files:
        base = Path(root).expanduser().resolve() if root else None

        def name(path: Path) -> str:
            return str(path.relative_to(base)) if base and path.is_relative_to(base) else str(path)

        out["files"] = {name(p): file_hash(p) for p in sorted(reads.files)}
    if reads.hub:
        out["hub"] = dict(sorted(reads.hub.items()))
    return out


def merged(*revisions: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """One revision of several loads (a row's intermediate training, target training and evaluation data)."""
    out: dict[str, dict[str, str]] = {}
    for revision in revisions:
        for part, entries in revision.items():
            out.setdefault(part, {}).update(entries)
    return {part: dict(sorted(entries.items())) for part, entries in sorted(out.items())}


def revision_json(revision: dict[str, dict[str, str]]) -> str:
    """The ``data_revision`` column's value."""
    return json.dumps(revision, sort_keys=True, separators=(",", ":"))


_SPLIT_REVISIONS: dict[tuple, tuple[dict[str, dict[str, str]], tuple]] = {}


def _stamps(files: dict[str, str], root: Path | None) -> tuple:
    base = Path(root).expanduser().resolve() if root else Path("/")
    out = []
    for name in files:
        path = base / name
        try:
            stat = path.stat()
            out.append((name, stat.st_mtime_ns, stat.st_size))
        except OSError:
            out.append((name, None, None))
    return tuple(out)


def split_revision(task: TaskSpec, split: str, language: str, config: DataConfig) -> dict[str, dict[str, str]]:
    """The data revision of one split of a task, without training on it (the phase-(ii) cache key).

    Hub: the pinned revision of each dataset the split reads (``data.revisions``), else 'unpinned', from the
    task's hub plan (``loader.hub_parts``, no network). Generated data (the mini-world): ``{}``. Otherwise the
    loader runs under :func:`recording` (its parses are cached, so the training that follows reads them for
    free) and the answer is remembered until one of its files changes.
    """
    if config.source == "miniworld":
        return {}
    hub_parts = getattr(task.loader, "hub_parts", None)
    if config.source == "hub" and hub_parts is not None:
        return {"hub": {part.path: config.revisions.get(part.path, UNPINNED)
                        for part in sorted(hub_parts(split, language), key=lambda p: p.path)}}
    key = (task.name, split, language, config.source, str(config.root), json.dumps(config.options, sort_keys=True,
                                                                                  default=str))
    known = _SPLIT_REVISIONS.get(key)
    if known is not None and _stamps(known[0].get("files", {}), config.root) == known[1]:
        return known[0]
    with recording() as reads:
        task.loader(split, language, config)
    revision = summary(reads, config.root)
    _SPLIT_REVISIONS[key] = (revision, _stamps(revision.get("files", {}), config.root))
    return revision
