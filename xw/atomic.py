"""Atomic file writes and timestamps: a reader (or a crash) never sees half a record.

Kept free of heavy imports: every papermill worker and result writer uses it.
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def now() -> str:
    """UTC time to the second, ISO 8601: the timestamp of every record xw writes."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temp file in the same folder, fsync, rename (see :func:`atomic_write_with`)."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    atomic_write_with(path, write)


def atomic_write_with(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` fills a temp file in the same folder (a library's own writer: Parquet), then fsync, rename.

    The file is made group-readable (mkstemp makes it private; results, reports and records are
    for the whole group). A full disk is one clear error and leaves no temp file behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        write(tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            raise OSError(err.errno, f"disk full while writing {path}; free space and re-run "
                                     "(finished cells are kept and will be skipped)") from None
        raise
