"""The ledger of a study's cells: what is done, running, failed, skipped or pending, read from disk.

A cell's state is never kept in memory between runs; it is what the files say (paths: xw.layout):

- *done*: its result file exists (xw.cells.is_done);
- *running*: a running marker exists and the process (or Slurm job) that wrote it is alive;
- *failed* / *skipped*: a failure record says why (skipped: a cell it waits for failed);
- *pending*: none of these (a marker whose writer died means an interrupted run).

The grid, the Slurm jobs, ``xw status`` and the report all take states from :func:`cell_states`
(the report also lists :func:`stray_failures`, records of cells no longer in the grid).
Here too: the failure records (written when a cell fails, cleared when it succeeds), the running
markers and their liveness, clearing what killed runs left behind, the run's timeline
(``logs/grid.log``) and the analysis notebook's VERDICT line.
"""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xw import cells as cells_mod
from xw.atomic import atomic_write_text, now
from xw.cells import Cell
from xw.layout import executed_dir, failed_dir, failure_record, grid_log, running_dir, running_marker
from xw.params import Study
from xw.slurm_queue import job_is_live

VERDICT_PREFIX = "VERDICT: "

_TIMELINE_LOCK = threading.Lock()


def timeline(study: Study, event: str) -> None:
    """One line of ``logs/grid.log``: the wall-clock time and the event."""
    path = grid_log(study)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _TIMELINE_LOCK, open(path, "a") as log:
        log.write(f"{now()} {event}\n")


# ---- failure records ----------------------------------------------------------------------------


def record_failure(study: Study, cell: Cell, error: str, *, stage: str, notebook: Path | None = None,
                   log: Path | None = None, skipped: bool = False, attempts: int = 0) -> Path:
    """Write failed/<cell>.json: what went wrong and where to look, so the grid can move on."""
    path = failure_record(study, cell.id)
    record = {
        "cell": cell.id, "kind": cell.kind, "scale": cell.scale, "intermediate": cell.intermediate,
        "target": cell.target, "seed": cell.seed, "error": error, "stage": stage, "skipped": skipped,
        "notebook": str(notebook) if notebook else None, "log": str(log) if log else None,
        "attempts": attempts, "failed_at": now(),
    }
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def clear_failure(study: Study, cell: Cell) -> None:
    failure_record(study, cell.id).unlink(missing_ok=True)


def read_failures(study: Study) -> dict[str, dict[str, Any]]:
    """Every failure record of the study, by cell id (unreadable records are reported as such)."""
    records: dict[str, dict[str, Any]] = {}
    for path in sorted(failed_dir(study).glob("*.json")):
        try:
            records[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            records[path.stem] = {"cell": path.stem, "error": f"unreadable failure record: {err}"}
    return records


# ---- running markers ----------------------------------------------------------------------------


def mark_running(study: Study, cell: Cell) -> Path:
    """Write running/<cell>: who runs the cell (host, pid, Slurm job); the caller removes it after."""
    marker = running_marker(study, cell.id)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": now()}
    if os.environ.get("SLURM_JOB_ID"):
        info["slurm_job"] = os.environ["SLURM_JOB_ID"]
    atomic_write_text(marker, json.dumps(info))
    return marker


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def marker_alive(marker: Path) -> bool:
    """A marker counts only while the process that wrote it lives (a killed grid leaves stale ones)."""
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if info.get("host") == socket.gethostname():
        try:
            return pid_alive(int(info["pid"]))
        except (KeyError, ValueError, TypeError):
            return False
    if info.get("slurm_job"):  # written inside a Slurm job on another node: alive while the job is queued
        live = job_is_live(str(info["slurm_job"]))
        if live is not None:
            return live
    return True  # another machine's grid: we cannot check, so trust it


def clear_stale(study: Study) -> None:
    """With the study lock held: drop what killed runs left here (running markers, temp notebooks)."""
    for marker in running_dir(study).glob("*"):
        if not marker_alive(marker):
            marker.unlink(missing_ok=True)
    host = socket.gethostname()
    # temp notebooks are named .<cell>~<host>~<pid>~<thread>.tmp.ipynb (xw.execution.notebook)
    for tmp in executed_dir(study).glob(".*~*.tmp.*"):
        try:
            _, owner_host, pid, _ = tmp.name[1:].split(".tmp.")[0].rsplit("~", 3)
            stale = owner_host == host and not pid_alive(int(pid))
        except ValueError:
            continue
        if stale:
            tmp.unlink(missing_ok=True)


# ---- cell states --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellState:
    cell: Cell
    state: str  # done | running | failed | skipped | pending
    note: str = ""  # failed / skipped: the first line of the error; pending: a stale marker
    error: str = ""  # failed / skipped: the failure record's whole error


def cell_states(study: Study, cells: Iterable[Cell] | None = None, *, live: bool = True) -> list[CellState]:
    """Each cell's state (of the grid, or of ``cells``), from the result files, running markers and
    failure records.

    ``live=False`` leaves the running markers out: for a run that is over (the Slurm analysis job,
    the report), where no cell can still be running.
    """
    failures = read_failures(study)
    states = []
    for cell in cells_mod.expand_grid(study) if cells is None else cells:
        marker = running_marker(study, cell.id)
        if live and marker.exists() and marker_alive(marker):
            states.append(CellState(cell, "running"))
        elif cells_mod.is_done(study, cell):
            states.append(CellState(cell, "done"))
        elif cell.id in failures:
            states.append(CellState(cell, *_failed(failures[cell.id])))
        else:
            states.append(CellState(cell, "pending", "interrupted run (stale marker)" if marker.exists() else ""))
    return states


def stray_failures(study: Study, cells: Iterable[Cell]) -> dict[str, tuple[str, str]]:
    """Failure records of cells that are not among ``cells`` (e.g. the grid changed since they failed):
    cell id -> (failed | skipped, the first line of the error), in the records' order."""
    known = {c.id for c in cells}
    return {cell_id: _failed(record)[:2] for cell_id, record in read_failures(study).items() if cell_id not in known}


def _failed(record: dict[str, Any]) -> tuple[str, str, str]:
    """(failed | skipped, first line of the error, the error) of a failure record."""
    error = str(record.get("error") or "")
    return "skipped" if record.get("skipped") else "failed", (error.splitlines() or [""])[0], error


# ---- the verdict --------------------------------------------------------------------------------


def find_verdict(notebook: Path) -> str | None:
    """The first output line of an executed notebook that starts with 'VERDICT: '."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts = [out.get("text", "")] if out.get("output_type") == "stream" else [
                out.get("data", {}).get(mime, "") for mime in ("text/plain", "text/markdown")]
            for text in texts:
                text = "".join(text) if isinstance(text, list) else text
                for line in text.splitlines():
                    line = line.strip().strip("'\"")
                    if line.startswith(VERDICT_PREFIX):
                        return line
    return None
