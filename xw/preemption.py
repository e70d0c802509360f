"""Stop requests: a signal asks the running training to save a checkpoint at its next step and stop.

Why: Slurm sends a job ``SIGUSR2`` shortly before its time limit (submitit asks for it) and ``SIGTERM``
when it preempts it; torchrun forwards both to its ranks (``--signals-to-handle``). Dying there loses
every step since the last periodic checkpoint; instead the handler only sets a flag, and
:func:`xw.train.train` (which checks it once per step, every rank agreeing) saves and raises
:class:`xw.errors.TrainingPreempted`. Re-running the cell resumes from that checkpoint.

Once the checkpoint is on disk, the training writes the file named by ``$XW_STOP_ACK`` (when set):
the Slurm cell job waits for it before it requeues itself (xw.executors.slurm).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from xw.atomic import atomic_write_text

STOP_SIGNALS = (signal.SIGUSR2, signal.SIGTERM)
ACK_ENV = "XW_STOP_ACK"

_received: list[int] = []


def requested() -> int | None:
    """The first stop signal received while listening (its number), or None."""
    return _received[0] if _received else None


def _record(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)


@contextlib.contextmanager
def listening(signals: tuple[signal.Signals, ...] = STOP_SIGNALS) -> Iterator[None]:
    """Within: the stop signals set the flag instead of killing the process; the old handlers come back after.

    Outside the main thread (where Python cannot install handlers) this listens to nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _record) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _received.clear()


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


def acknowledge(checkpoint: Path) -> None:
    """Tell whoever waits on ``$XW_STOP_ACK`` (the Slurm cell job) that the checkpoint is written."""
    path = os.environ.get(ACK_ENV)
    if path:
        atomic_write_text(Path(path), f"{checkpoint}\n")


def die_with_parent(signum: int = signal.SIGKILL) -> None:
    """Linux: have the kernel send ``signum`` to this process when its parent dies (no orphan ranks).

    torchrun starts its ranks in sessions of their own, so a signal to the launcher's process group
    never reaches them; a launcher killed with SIGKILL would leave them training on the GPUs."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, int(signum))  # PR_SET_PDEATHSIG
