"""Advisory file locks (``fcntl.flock``) that die with their holder.

``study_lock`` keeps a second ``xw grid`` off a study that one grid is running (both would run the
same cells and race on results.csv); ``file_lock`` serialises builders of one cached checkpoint.
The kernel drops a flock when the holding process dies, also by ``kill -9``, so a killed run never
leaves a stale lock behind (unlike a pid file). flock works on local disks and on the usual
cluster file systems (NFSv4 emulates it with byte-range locks; Lustre needs the ``flock`` mount
option).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from xw.errors import XWError

LOCK_NAME = ".lock"


class LockHeld(XWError):
    """Another live process holds the lock."""


def _holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return {}


@contextmanager
def file_lock(path: Path, *, blocking: bool = True, what: str = "", remove: bool = False) -> Iterator[int]:
    """Hold an exclusive flock on ``path`` (created if needed); writes who holds it into the file.

    Non-blocking: raise LockHeld naming the holder if another process has it. ``remove``: delete the
    lock file on release, so a finished (or failed) build leaves nothing beside its output; safe because
    a waiter that then gets the lock on the deleted file notices and locks the new one (_acquire).
    """
    fd = _acquire(path, blocking, what or str(path))
    try:
        yield fd
    finally:
        if remove:
            path.unlink(missing_ok=True)
        os.close(fd)  # closing the last descriptor releases the flock


def _acquire(path: Path, blocking: bool, what: str) -> int:
    while True:
        fd = _lock_once(path, blocking, what)
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder removed the file we waited on: lock the file now at ``path``
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "since": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(sys.argv)[:300]}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    return fd


def _lock_once(path: Path, blocking: bool, what: str) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except BlockingIOError:
        os.close(fd)
        info = _holder(path)
        raise LockHeld(f"{what} is locked by another process (pid {info.get('pid', '?')} on "
                       f"{info.get('host', '?')}, since {info.get('since', '?')}: {info.get('command', '?')}); "
                       f"lock file {path}") from None
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def study_lock(output_dir: Path, study_name: str) -> Iterator[None]:
    """Hold ``<output_dir>/.lock`` for a whole grid run, or refuse with a clear message."""
    path = Path(output_dir) / LOCK_NAME
    try:
        fd = _acquire(path, False, f"study {study_name!r}")
    except LockHeld:
        info = _holder(path)
        raise LockHeld(
            f"another xw grid is already running study {study_name!r} (pid {info.get('pid', '?')} on "
            f"{info.get('host', '?')}, started {info.get('since', '?')}: {info.get('command', '?')}); "
            f"two grids would run the same cells. Wait for it to finish or stop it, then re-run "
            f"(`xw status` shows its progress; the lock {path} is released when that process exits)"
        ) from None
    try:
        yield
    finally:
        os.close(fd)
