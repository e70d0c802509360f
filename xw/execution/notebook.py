"""The parent's side of executing a notebook: start the papermill child (or hand the notebook to a warm
worker), time it out, kill it with its kernel, and read what it reported.

Every child started here is tracked, so :func:`kill_active` (Ctrl-C, SIGTERM) can kill them all and
no kernel outlives the grid. Kernel starts are staggered (many at once miss the start timeout) and a
start that times out is retried.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xw.atomic import now
from xw.execution.child import MODULE as CHILD_MODULE
from xw.processes import kill_tree

_START_STAGGER_S = 1.0  # gap between two kernel starts: many at once miss the start timeout
_START_RETRIES = 2  # extra attempts when a kernel does not come up in time
_GRACE_S = 120  # wall-clock slack on top of start + execution timeouts before a child is killed


@dataclass
class NotebookRun:
    """The outcome of executing one notebook in a child process."""

    ok: bool
    notebook: Path
    log: Path
    stage: str = "done"  # done | start | execution | timeout | crashed
    error: str = ""
    attempts: int = 1


_ACTIVE: dict[int, subprocess.Popen] = {}
_ACTIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()  # set on Ctrl-C: no new child may start
_START_LOCK = threading.Lock()
_last_start = 0.0


def _stagger_start() -> None:
    global _last_start
    with _START_LOCK:
        delay = _last_start + _START_STAGGER_S - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        _last_start = time.monotonic()


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill a papermill child and its kernel (the kernel runs in its own session, so killpg misses it)."""
    kill_tree(proc.pid, grace_s=0)
    proc.wait()


def kill_active() -> None:
    """Kill every running child and start no more (used on Ctrl-C so no kernel outlives the grid)."""
    _STOPPING.set()
    with _ACTIVE_LOCK:
        procs = list(_ACTIVE.values())
    for proc in procs:
        _kill_tree(proc)


def allow_starts() -> None:
    """Let children start again (a new grid run after one that :func:`kill_active` stopped)."""
    _STOPPING.clear()


def _log_tail(log: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def execute_notebook(source: Path, output: Path, parameters: dict[str, Any], *, cwd: Path, kernel_name: str,
                     start_timeout: int, execution_timeout: int, log: Path,
                     env: dict[str, str] | None = None, slim: bool = False,
                     worker: WarmWorker | None = None) -> NotebookRun:
    """Run ``source`` with papermill in a child process and keep the executed copy at ``output``.

    With ``worker``, the notebook runs in that warm worker's kernel instead of a new child and kernel.

    The copy is written under a temp name and renamed, also when the notebook fails (its traceback
    is the first thing to read). A kernel that does not start in time is retried; a child that
    outlives start + execution timeout (e.g. a kernel killed for memory) is killed with its kernel.
    ``slim`` drops the 4.8 MB plotly.js copy plotly's notebook renderer puts in every notebook (hundreds
    of cells would cost gigabytes); the figures keep their JSON and report.html inlines plotly.js once.
    """
    # the child runs in ``cwd`` (the notebooks folder): a path relative to here would land there
    output, log = Path(output).resolve(), Path(log).resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    log.parent.mkdir(parents=True, exist_ok=True)
    # host and pid in the name let a later grid remove the temp file of a killed one (xw.ledger.clear_stale)
    tmp = output.with_name(f".{output.stem}~{socket.gethostname()}~{os.getpid()}~{threading.get_ident()}.tmp.ipynb")
    status_path = tmp.with_suffix(".status.json")
    spec = {
        "input": str(Path(source).resolve()), "output": str(tmp), "status": str(status_path),
        "parameters": parameters, "cwd": str(Path(cwd).resolve()), "kernel_name": kernel_name,
        "start_timeout": start_timeout, "execution_timeout": execution_timeout, "slim": slim,
        "parent_pid": os.getpid(), "log": str(log),
    }
    wall = start_timeout + execution_timeout + _GRACE_S
    run = NotebookRun(ok=False, notebook=output, log=log, stage="start", error="", attempts=0)
    log.write_text("")  # this run's log only; the child (or warm worker) appends to it
    with open(log, "a") as log_handle:
        for attempt in range(1, _START_RETRIES + 2):
            run.attempts = attempt
            status_path.unlink(missing_ok=True)
            log_handle.write(f"# {now()} attempt {attempt}: papermill {source} -> {output}\n")
            log_handle.flush()
            if worker is None or worker.proc is None:  # a kernel is about to start
                _stagger_start()
            if _STOPPING.is_set():
                run.stage, run.error = "crashed", "the grid was interrupted before this notebook started"
                break
            if worker is not None:
                code, status = worker.run(spec, status_path, wall)
                timed_out = code is None and status is None
            else:
                code, timed_out = _run_child(spec, log_handle, env, wall)
                status = _read_status(status_path)
            if timed_out:
                run.stage, run.error = "timeout", (
                    f"killed after {wall} s wall clock (executor.start_timeout {start_timeout} + "
                    f"executor.cell_timeout {execution_timeout} + {_GRACE_S}); a hung or memory-killed kernel?")
            elif status is None:
                reason = " (killed: out of memory?)" if code in (-9, 137) else ""
                tail = _log_tail(log) + (f"\nworker log {worker.log}:\n{_log_tail(worker.log)}" if worker else "")
                run.stage, run.error = "crashed", f"papermill process exited with code {code}{reason}; " \
                                                  f"log tail:\n{tail}"
            else:
                run.ok, run.stage, run.error = bool(status["ok"]), status["stage"], status["error"]
            if run.stage != "start" or "NoSuchKernel" in run.error:
                break
            time.sleep(2.0 * attempt)  # let the machine settle before the next kernel start
    status_path.unlink(missing_ok=True)
    if tmp.exists():
        os.replace(tmp, output)
    return run


def _run_child(spec: dict[str, Any], log_handle: Any, env: dict[str, str] | None,
               wall: float) -> tuple[int | None, bool]:
    """One notebook in a new child process (and kernel): (exit code, timed out)."""
    proc = subprocess.Popen([sys.executable, "-m", CHILD_MODULE, json.dumps(spec)], stdout=log_handle,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=spec["cwd"])
    with _ACTIVE_LOCK:
        _ACTIVE[proc.pid] = proc
    try:
        return proc.wait(timeout=wall), False
    except subprocess.TimeoutExpired:
        _kill_tree(proc)
        return None, True
    finally:
        with _ACTIVE_LOCK:
            _ACTIVE.pop(proc.pid, None)


def _read_status(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class WarmWorker:
    """The parent's side of one warm worker (``python -m xw.execution.child --serve``): started on first
    use, restarted after a failure, a crash or a timeout, closed when the grid ends. One per local
    worker slot."""

    def __init__(self, slot: int, env: dict[str, str] | None, cwd: Path, log: Path) -> None:
        self.slot, self.env, self.cwd, self.log = slot, env, cwd, log
        self.proc: subprocess.Popen | None = None

    def run(self, spec: dict[str, Any], status_path: Path, wall: float) -> tuple[int | None, dict | None]:
        """Hand one notebook to the worker; (exit code or None for still alive / killed, status)."""
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(spec) + "\n")
            self.proc.stdin.flush()
        except OSError:  # died between the poll and the write
            pass
        deadline = time.monotonic() + wall
        while True:
            status = _read_status(status_path) if status_path.exists() else None
            if status is not None:
                if not status["ok"]:
                    self.close()  # it exits after a failure; wait for it so its kernel is gone too
                return 0, status
            code = self.proc.poll()
            if code is not None:
                self.proc = None
                return code, _read_status(status_path)
            if time.monotonic() > deadline:
                self.kill()
                return None, None
            time.sleep(0.1)

    def _start(self) -> None:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "a") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", CHILD_MODULE, "--serve", str(os.getpid())],
                                         stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT,
                                         env=self.env, cwd=self.cwd, text=True)
        with _ACTIVE_LOCK:
            _ACTIVE[self.proc.pid] = self.proc

    def kill(self) -> None:
        if self.proc is not None:
            _kill_tree(self.proc)
            self._forget()

    def close(self, timeout: float = 30.0) -> None:
        """Let the worker shut its kernel down (end of its stdin), then make sure it is gone."""
        if self.proc is None:
            return
        try:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            self.proc.wait(timeout=timeout)
        except (OSError, subprocess.TimeoutExpired):
            _kill_tree(self.proc)
        self._forget()

    def _forget(self) -> None:
        if self.proc is not None:
            with _ACTIVE_LOCK:
                _ACTIVE.pop(self.proc.pid, None)
        self.proc = None
