"""The child's side of executing a notebook: papermill in its own process, a status file for the parent.

``python -m xw.execution.child <spec json>`` runs one notebook and exits; ``python -m
xw.execution.child --serve <parent pid>`` is a warm worker: one notebook per line of stdin, all in
one kernel. Either way the outcome goes to the spec's status file (written atomically), which the
parent (xw.execution.notebook) reads. Heavy imports (papermill, nbformat) happen only here, in the
child, and only when a notebook runs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from xw.atomic import atomic_write_text

MODULE = "xw.execution.child"  # what the parent runs with ``python -m``


def _any_cell_started(path: str) -> bool:
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - no readable output means nothing ran
        return False
    # papermill marks every cell "completed" when it gives up, but sets start_time only on a real start
    return any(c.get("metadata", {}).get("papermill", {}).get("start_time") for c in nb.cells)


def _slim(path: Path) -> None:
    import nbformat

    from xw.report import drop_plotlyjs_bundles

    try:
        nb = nbformat.read(path, as_version=4)
    except Exception:  # noqa: BLE001 - nothing written, nothing to slim
        return
    if drop_plotlyjs_bundles(nb):
        nbformat.write(nb, path)


def _die_with_parent(parent_pid: int | None) -> None:
    """Linux: ask the OS to SIGKILL this papermill child when the grid dies (also by ``kill -9``), so no
    orphan keeps running a cell beside a resumed grid; its Jupyter kernel follows (ipykernel polls its
    parent). Note: the signal comes when the *thread* that started the child ends; grid threads wait
    for their child, so that is never earlier than the grid's own death."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if parent_pid and os.getppid() != parent_pid:  # the grid died before prctl took effect
        sys.exit(1)


def _execute(spec: dict[str, Any], km: Any = None) -> dict[str, Any]:
    """Run one notebook with papermill (in ``km``'s kernel when given) and return its status."""
    import papermill as pm
    from nbclient.exceptions import CellTimeoutError
    from papermill.exceptions import PapermillExecutionError

    extra = {"km": km} if km is not None else {}
    try:
        pm.execute_notebook(spec["input"], spec["output"], parameters=spec["parameters"],
                            kernel_name=spec["kernel_name"], start_timeout=spec["start_timeout"],
                            execution_timeout=spec["execution_timeout"], cwd=spec["cwd"],
                            progress_bar=False, log_output=True, **extra)
        status = {"ok": True, "stage": "done", "error": ""}
    except PapermillExecutionError as err:
        status = {"ok": False, "stage": "execution", "error": f"{err.ename}: {err.evalue}"}
    except CellTimeoutError:
        status = {"ok": False, "stage": "timeout",
                  "error": f"a notebook cell ran longer than executor.cell_timeout ({spec['execution_timeout']} s)"}
    except Exception as err:  # noqa: BLE001 - reported to the grid, which records it and goes on
        stage = "execution" if _any_cell_started(spec["output"]) else "start"
        if stage == "start" and "respond" in str(err):
            err = RuntimeError(f"{err} (executor.start_timeout {spec['start_timeout']} s)")
        status = {"ok": False, "stage": stage, "error": f"{type(err).__name__}: {err}"}
    if spec.get("slim"):
        _slim(Path(spec["output"]))
    return status


def child_main(spec_json: str) -> int:
    """Entry of a one-notebook child process: run papermill, then write a small status file for the grid."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    spec = json.loads(spec_json)
    _die_with_parent(spec.get("parent_pid"))
    status = _execute(spec)
    atomic_write_text(Path(spec["status"]), json.dumps(status))
    return 0 if status["ok"] else 1


def serve_main(parent_pid: int) -> int:
    """Entry of a warm worker: one notebook per line of stdin, all in one kernel kept alive between them.

    Each notebook's papermill log goes to its own cell log; the worker's and the kernel's own output
    go to the worker log the grid opened as stdout. After a failed notebook the worker exits, so the
    next cell starts in a fresh kernel whatever state the failure left behind.
    """
    import logging

    from jupyter_client.manager import AsyncKernelManager

    _die_with_parent(parent_pid)
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    km = None
    for line in sys.stdin:
        spec = json.loads(line)
        if km is None:
            km = AsyncKernelManager(kernel_name=spec["kernel_name"])
        handler = logging.FileHandler(spec["log"], encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        root.addHandler(handler)
        try:
            status = _execute(spec, km)
        finally:
            root.removeHandler(handler)
            handler.close()
        atomic_write_text(Path(spec["status"]), json.dumps(status))
        if not status["ok"]:
            break
    if km is not None and km.has_kernel:
        from jupyter_core.utils import run_sync

        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # noqa: BLE001 - the grid kills what is left
            pass
    return 0


if __name__ == "__main__":
    # jsonschema (under nbformat, under papermill) eagerly imports the optional IRI format checker
    # rfc3987_syntax when installed (jupyterlab pulls it in); it compiles a grammar at import, 2-4 s
    # per cell. Notebooks never use that format, so each papermill child runs without it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    # Slurm signals every process of a job (USR2 before its time limit): only the kernel's training acts on
    # it (xw.preemption); papermill's own process must not die of it before the kernel has saved
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    if sys.argv[1] == "--serve":
        sys.exit(serve_main(int(sys.argv[2])))
    sys.exit(child_main(sys.argv[1]))
