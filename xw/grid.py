"""Running the grid: each pending cell's notebook executed by papermill in its own process.

Why a child process per notebook rather than threads or one ProcessPoolExecutor: papermill's
``cwd`` is a process-wide chdir (papermill issue 473); a kernel killed for memory can hang its
executor (issue 125), and a process pool breaks as a whole when one worker dies; kernels
started by many processes at once can miss the start timeout (issues 478, 776). So every
notebook runs in ``python -m xw.grid <spec>``, which the grid can time out and kill together
with its kernel; kernel starts are staggered, and a start that times out is retried. The
threads here only wait on those children.

On disk, under ``outputs/<study>/``:

- ``notebooks/<cell>.ipynb`` — the executed copy (written under a temp name, then renamed);
- ``failed/<cell>.json`` — why a cell failed or was skipped (removed when it later succeeds);
- ``running/<cell>`` — present while the grid runs the cell (read by ``xw status``);
- ``logs/<cell>.log`` — papermill's log of the cell, to follow a long cell with ``tail -f``;
- ``logs/grid.log`` — the run's timeline: when each cell started and ended on which worker, the
  analysis and the report (where the wall time of a run went);
- ``.lock`` — flock held by the running grid (xw.lock): a second grid on the study refuses to start.

``executor: local`` runs the cells in ``workers`` processes here, each worker slot pinned to one GPU
(``CUDA_VISIBLE_DEVICES`` round-robin) when there are GPUs; ``executor: slurm`` submits one Slurm job
per cell (xw.slurm), which runs :func:`run_cell_notebook` exactly as a local worker does.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xw.atomic import atomic_write_text, now
from xw.cells import Cell
from xw.checkpoints import needs_pretraining
from xw.errors import XWError
from xw.lock import study_lock
from xw.params import EXECUTORS, NONE, Study, load_study

NOTEBOOKS_DIR = Path(__file__).resolve().parents[1] / "notebooks"
ANALYSIS_NOTEBOOK = "analysis.ipynb"
VERDICT_PREFIX = "VERDICT: "

_START_STAGGER_S = 1.0  # gap between two kernel starts: many at once miss the start timeout
_START_RETRIES = 2  # extra attempts when a kernel does not come up in time
_GRACE_S = 120  # wall-clock slack on top of start + execution timeouts before a child is killed


# ---- on-disk layout -----------------------------------------------------------------------------


def executed_dir(study: Study) -> Path:
    return study.output_dir / "notebooks"


def failed_dir(study: Study) -> Path:
    return study.output_dir / "failed"


def running_dir(study: Study) -> Path:
    return study.output_dir / "running"


def logs_dir(study: Study) -> Path:
    return study.output_dir / "logs"


def report_path(study: Study) -> Path:
    return study.output_dir / "report.html"


_TIMELINE_LOCK = threading.Lock()


def timeline(study: Study, event: str) -> None:
    """One line of ``logs/grid.log``: the wall-clock time and the event."""
    path = logs_dir(study) / "grid.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _TIMELINE_LOCK, open(path, "a") as log:
        log.write(f"{now()} {event}\n")


def record_failure(study: Study, cell: Cell, error: str, *, stage: str, notebook: Path | None = None,
                   log: Path | None = None, skipped: bool = False, attempts: int = 0) -> Path:
    """Write failed/<cell>.json: what went wrong and where to look, so the grid can move on."""
    path = failed_dir(study) / f"{cell.id}.json"
    record = {
        "cell": cell.id, "kind": cell.kind, "scale": cell.scale, "intermediate": cell.intermediate,
        "target": cell.target, "seed": cell.seed, "error": error, "stage": stage, "skipped": skipped,
        "notebook": str(notebook) if notebook else None, "log": str(log) if log else None,
        "attempts": attempts, "failed_at": now(),
    }
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")
    return path


def clear_failure(study: Study, cell: Cell) -> None:
    (failed_dir(study) / f"{cell.id}.json").unlink(missing_ok=True)


def read_failures(study: Study) -> dict[str, dict[str, Any]]:
    """Every failure record of the study, by cell id (unreadable records are reported as such)."""
    records: dict[str, dict[str, Any]] = {}
    for path in sorted(failed_dir(study).glob("*.json")):
        try:
            records[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            records[path.stem] = {"cell": path.stem, "error": f"unreadable failure record: {err}"}
    return records


def _mark_running(study: Study, cell: Cell) -> Path:
    marker = running_dir(study) / cell.id
    info = {"pid": os.getpid(), "host": socket.gethostname(), "started": now()}
    if os.environ.get("SLURM_JOB_ID"):
        info["slurm_job"] = os.environ["SLURM_JOB_ID"]
    atomic_write_text(marker, json.dumps(info))
    return marker


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _marker_alive(marker: Path) -> bool:
    """A marker counts only while the process that wrote it lives (a killed grid leaves stale ones)."""
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    if info.get("host") == socket.gethostname():
        try:
            return _pid_alive(int(info["pid"]))
        except (KeyError, ValueError, TypeError):
            return False
    if info.get("slurm_job"):  # written inside a Slurm job on another node: alive while the job is queued
        from xw.slurm import job_is_live

        live = job_is_live(str(info["slurm_job"]))
        if live is not None:
            return live
    return True  # another machine's grid: we cannot check, so trust it


def _clear_stale(study: Study) -> None:
    """With the study lock held: drop what killed runs left here (running markers, temp notebooks)."""
    for marker in running_dir(study).glob("*"):
        if not _marker_alive(marker):
            marker.unlink(missing_ok=True)
    host = socket.gethostname()
    for tmp in executed_dir(study).glob(".*~*.tmp.*"):
        try:
            _, owner_host, pid, _ = tmp.name[1:].split(".tmp.")[0].rsplit("~", 3)
            stale = owner_host == host and not _pid_alive(int(pid))
        except ValueError:
            continue
        if stale:
            tmp.unlink(missing_ok=True)


def visible_gpus() -> list[str]:
    """GPUs the local workers are pinned to: CUDA_VISIBLE_DEVICES if set, else nvidia-smi's; [] on CPU."""
    value = os.environ.get("CUDA_VISIBLE_DEVICES")
    if value is not None:
        ids = [v.strip() for v in value.split(",") if v.strip()]
        return [] if not ids or ids[0] in ("-1", "NoDevFiles") else ids
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=index", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip().isdigit()] if out.returncode == 0 else []


def worker_env(env: dict[str, str], slot: int, gpus: list[str]) -> dict[str, str]:
    """The environment of worker slot ``slot``: one GPU per slot, round-robin (unchanged without GPUs)."""
    env = {**env, "XW_WORKER_SLOT": str(slot)}
    if gpus:
        env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
        env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")  # number GPUs the way nvidia-smi does
    return env


# ---- kernel -------------------------------------------------------------------------------------


def _is_this_interpreter(argv0: str) -> bool:
    # jupyter_client swaps a bare "python"/"python3" for sys.executable when it launches a kernel
    if argv0 in {"python", f"python{sys.version_info[0]}", "python{}.{}".format(*sys.version_info[:2])}:
        return True
    # compare without resolving symlinks: a venv's python links to the base interpreter
    return Path(os.path.abspath(argv0)).parent == Path(os.path.abspath(sys.executable)).parent


def ensure_kernel(name: str = "python3") -> str:
    """Name of a kernelspec that runs this interpreter (where xw is installed), installing one if needed.

    ``python3`` is used when it resolves to this interpreter (always so in a venv with ipykernel:
    jupyter_client falls back to ipykernel's built-in spec). If a user-level ``python3`` spec
    points at another Python, a spec ``xw-<hash>`` for this interpreter is installed instead.
    """
    import hashlib

    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    try:
        if _is_this_interpreter(manager.get_kernel_spec(name).argv[0]):
            return name
    except NoSuchKernel:
        pass
    own = "xw-" + hashlib.sha256(sys.executable.encode()).hexdigest()[:8]
    try:
        if _is_this_interpreter(manager.get_kernel_spec(own).argv[0]):
            return own
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    display = f"Python ({sys.prefix})"
    try:
        install(user=True, kernel_name=own, display_name=display)
    except OSError:  # read-only home: install into this environment instead
        install(prefix=sys.prefix, kernel_name=own, display_name=display)
    return own


# ---- executing one notebook ---------------------------------------------------------------------


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
    try:
        import psutil

        try:
            family = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            family = []
        for p in family:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
    except ImportError:  # the kernel's parent poller ends it once papermill is gone
        pass
    proc.kill()
    proc.wait()


def kill_active() -> None:
    """Kill every running child and start no more (used on Ctrl-C so no kernel outlives the grid)."""
    _STOPPING.set()
    with _ACTIVE_LOCK:
        procs = list(_ACTIVE.values())
    for proc in procs:
        _kill_tree(proc)


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
    # host and pid in the name let a later grid remove the temp file of a killed one (_clear_stale)
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
    proc = subprocess.Popen([sys.executable, "-m", "xw.grid", json.dumps(spec)], stdout=log_handle,
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


def _child_main(spec_json: str) -> int:
    """Entry of a one-notebook child process: run papermill, then write a small status file for the grid."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    spec = json.loads(spec_json)
    _die_with_parent(spec.get("parent_pid"))
    status = _execute(spec)
    atomic_write_text(Path(spec["status"]), json.dumps(status))
    return 0 if status["ok"] else 1


def _serve_main(parent_pid: int) -> int:
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


class WarmWorker:
    """The grid's side of one warm worker (``_serve_main``): started on first use, restarted after a
    failure, a crash or a timeout, closed when the grid ends. One per local worker slot."""

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
            self.proc = subprocess.Popen([sys.executable, "-m", "xw.grid", "--serve", str(os.getpid())],
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


# ---- the grid -----------------------------------------------------------------------------------


@dataclass
class GridReport:
    """What a grid run did; ``ok`` when every cell is done and the analysis gave a verdict."""

    study: str
    output_dir: Path
    total: int
    already_done: list[str] = field(default_factory=list)
    succeeded: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # cell id -> error
    skipped: dict[str, str] = field(default_factory=dict)  # cell id -> why (its dependency failed)
    results_path: Path | None = None
    analysis_notebook: Path | None = None
    analysis_error: str | None = None
    verdict: str | None = None
    report_path: Path | None = None
    executor: str = "local"
    jobs: dict[str, str] = field(default_factory=dict)  # cell id (or "analysis") -> Slurm job id
    waited: bool = True  # False: Slurm jobs submitted, the grid did not wait for them

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped and self.verdict is not None


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


def _child_env(workers: int) -> dict[str, str]:
    """Share the cores between workers (xw.cells honours XW_THREADS) unless the user chose already."""
    env = dict(os.environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    env.setdefault("XW_THREADS", threads)
    env.setdefault("OMP_NUM_THREADS", env["XW_THREADS"])
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def run_cell_notebook(study: Study, cell: Cell, notebooks_dir: Path, kernel: str,
                      env: dict[str, str] | None, worker: WarmWorker | None = None) -> NotebookRun:
    """Run one cell's notebook (running marker, papermill child, executed copy, log) and check that
    it wrote its result file. The same for a local worker and a Slurm job (xw.slurm)."""
    from xw import cells as cells_mod

    marker = _mark_running(study, cell)
    try:
        run = execute_notebook(
            notebooks_dir / cell.notebook, executed_dir(study) / f"{cell.id}.ipynb", cell.parameters(study),
            cwd=notebooks_dir, kernel_name=kernel, start_timeout=study.executor.start_timeout,
            execution_timeout=study.executor.cell_timeout, log=logs_dir(study) / f"{cell.id}.log", env=env,
            slim=True, worker=worker)
        if run.ok and not cells_mod.is_done(study, cell):
            run.ok, run.stage = False, "execution"
            run.error = f"the notebook finished but wrote no result file ({cells_mod.result_path(study, cell)})"
        return run
    finally:
        marker.unlink(missing_ok=True)


def settle(study: Study, cell: Cell, run: NotebookRun) -> None:
    """Write (or clear) the cell's failure record after a run."""
    if run.ok:
        clear_failure(study, cell)
    else:
        record_failure(study, cell, run.error, stage=run.stage,
                       notebook=run.notebook if run.notebook.exists() else None, log=run.log,
                       attempts=run.attempts)


def plan_grid(study: Study, notebooks_dir: Path) -> tuple[list[Cell], list[Cell], GridReport]:
    """The grid's cells, those still to run (done ones are skipped: resume), and a report to fill."""
    from xw import cells as cells_mod

    grid = cells_mod.expand_grid(study)
    for nb_name in sorted({c.notebook for c in grid}):
        if not (notebooks_dir / nb_name).is_file():
            raise XWError(f"notebook {notebooks_dir / nb_name} not found (needed by the grid's cells)")
    report = GridReport(study=study.name, output_dir=study.output_dir, total=len(grid))
    done = {c.id for c in grid if cells_mod.is_done(study, c)}
    report.already_done = [c.id for c in grid if c.id in done]
    for cell in grid:
        if cell.id in done:
            clear_failure(study, cell)
    return grid, [c for c in grid if c.id not in done], report


def run_grid(study: Study | str | Path, workers: int | None = None, notebooks_dir: Path = NOTEBOOKS_DIR,
             progress: bool = True, *, output_root: str | Path | None = None,
             gain_measure: str | None = None, executor: str | None = None, wait: bool = True) -> GridReport:
    """Run every pending cell's notebook, then collect results, run the analysis and export the report.

    Done cells are skipped (resume); a failed cell is recorded and the grid goes on; a target
    cell starts only after its intermediate cell succeeded and is skipped if that failed.
    ``executor`` (default: the study's executor.kind) is ``local`` or ``slurm``; with ``slurm``,
    ``wait=False`` returns once the jobs are submitted. The study's lock is held throughout: a
    second grid on the same study refuses to start (xw.lock.LockHeld).
    """
    if not isinstance(study, Study):
        study = load_study(study, output_root)
    notebooks_dir = Path(notebooks_dir).resolve()
    if not notebooks_dir.is_dir():
        raise XWError(f"notebooks folder {notebooks_dir} not found; pass the folder holding intermediate.ipynb "
                      "and target.ipynb")
    executor = executor or study.executor.kind
    if executor not in EXECUTORS:
        raise XWError(f"unknown executor {executor!r}; allowed: {list(EXECUTORS)}")
    workers = workers or study.executor.workers
    if workers < 1:
        raise XWError(f"--workers must be at least 1, got {workers}")
    with study_lock(study.output_dir, study.name):
        _clear_stale(study)
        kernel = ensure_kernel()
        if executor == "slurm":
            from xw.slurm import run_slurm_grid

            return run_slurm_grid(study, notebooks_dir, kernel, progress=progress, gain_measure=gain_measure,
                                  wait=wait)
        return _run_local(study, workers, notebooks_dir, kernel, progress, gain_measure)


def pretraining_openers(study: Study, todo: list[Cell]) -> dict[str, Cell]:
    """Per mini scale still to pretrain: the intermediate cell that pretrains it (its 'none' cell first).

    Its kernel runs phase (i) (xw.phases.ensure_pretrained) while other workers run other scales,
    instead of every worker waiting for the largest scale's pretraining before any cell starts.
    """
    openers: dict[str, Cell] = {}
    for scale in study.ladder:
        if not needs_pretraining(study, scale):
            continue
        candidates = [c for c in todo if c.scale == scale.name and c.kind == "intermediate"]
        if candidates:
            openers[scale.name] = min(candidates, key=lambda c: (c.intermediate != NONE, c.seed))
    return openers


def scale_cost(study: Study) -> dict[str, float]:
    """Relative cost of a scale's cells, for longest-first scheduling: layers x hidden^2, else ladder order."""
    return {s.name: float((s.layers or 0) * (s.hidden or 0) ** 2) or float(i + 1)
            for i, s in enumerate(study.ladder)}


def _run_local(study: Study, workers: int, notebooks_dir: Path, kernel: str, progress: bool,
               gain_measure: str | None) -> GridReport:
    from tqdm.auto import tqdm

    from xw import cells as cells_mod
    from xw.report import export_report

    env = _child_env(workers)
    _STOPPING.clear()

    grid, todo, report = plan_grid(study, notebooks_dir)
    timeline(study, f"grid {len(todo)} of {len(grid)} cells to run, {workers} workers")
    todo_ids = {c.id for c in todo}
    openers = pretraining_openers(study, todo)
    unopened = [s.name for s in study.ladder if s.name not in openers and needs_pretraining(study, s)]
    if unopened:  # e.g. the pretraining was deleted after the scale's intermediate cells were done
        cells_mod.prepare_models(study, workers=workers, scales=unopened)
    gpus = visible_gpus()
    slots: queue.SimpleQueue[int] = queue.SimpleQueue()
    for slot in range(workers):
        slots.put(slot)

    warm = {slot: WarmWorker(slot, worker_env(env, slot, gpus), notebooks_dir, logs_dir(study) / f"worker-{slot}.log")
            for slot in range(workers)} if study.executor.reuse_kernels else {}

    def run_one(cell: Cell) -> NotebookRun:
        slot = slots.get()  # one per pool thread, so never waits
        started = time.perf_counter()
        timeline(study, f"start {cell.id} worker {slot}")
        try:
            return run_cell_notebook(study, cell, notebooks_dir, kernel, worker_env(env, slot, gpus), warm.get(slot))
        finally:
            timeline(study, f"end {cell.id} worker {slot} {time.perf_counter() - started:.1f}s")
            slots.put(slot)

    bar = tqdm(total=len(grid), initial=len(report.already_done), desc=f"grid {study.name}", unit="cell",
               disable=not progress)
    waiting: dict[str, list[Cell]] = {}
    ready: list[Cell] = []
    opener_ids = {c.id for c in openers.values()}
    for cell in todo:
        dep = cells_mod.dependency(cell)
        opener = openers.get(cell.scale)
        if dep is None and opener is not None and cell.id != opener.id:
            dep = opener  # the scale's first cell pretrains it (phase i); the others wait for that
        if dep is not None and dep.id in todo_ids:
            waiting.setdefault(dep.id, []).append(cell)
        else:
            ready.append(cell)
    order = {c.id: i for i, c in enumerate(grid)}
    cost = scale_cost(study)

    def priority(cell: Cell) -> tuple:
        """Longest work first: openers (pretraining), then bigger scales, intermediate before target."""
        return (cell.id not in opener_ids, -cost[cell.scale], cell.kind != "intermediate", order[cell.id])

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="xw-grid")
    futures: dict[Future, Cell] = {}

    def dispatch() -> None:
        ready.sort(key=priority)
        while ready and len(futures) < workers:
            cell = ready.pop(0)
            futures[pool.submit(run_one, cell)] = cell

    def skip_dependents(cell: Cell, why: str) -> None:
        for dependent in waiting.pop(cell.id, []):
            reason = f"skipped: {cell.id}, which it waits for, failed ({why.splitlines()[0] if why else '?'})"
            record_failure(study, dependent, reason, stage="dependency", skipped=True)
            report.skipped[dependent.id] = reason
            bar.update(1)
            skip_dependents(dependent, reason)

    try:
        dispatch()
        while futures:
            finished, _ = wait(list(futures), return_when=FIRST_COMPLETED)
            for future in finished:
                cell = futures.pop(future)
                try:
                    run = future.result()
                except Exception as err:  # noqa: BLE001 - a bug in bookkeeping must not stop the grid
                    run = NotebookRun(ok=False, notebook=executed_dir(study) / f"{cell.id}.ipynb",
                                      log=logs_dir(study) / f"{cell.id}.log", stage="crashed",
                                      error=f"{type(err).__name__}: {err}")
                bar.update(1)
                settle(study, cell, run)
                if run.ok:
                    report.succeeded.append(cell.id)
                    ready.extend(waiting.pop(cell.id, []))
                else:
                    report.failed[cell.id] = run.error
                    bar.write(f"FAILED {cell.id} ({run.stage}): {run.error.splitlines()[0] if run.error else ''}")
                    skip_dependents(cell, run.error)
                bar.set_postfix(failed=len(report.failed), skipped=len(report.skipped), refresh=False)
            dispatch()
    except BaseException:
        kill_active()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    finally:
        bar.close()
    for slot, worker in warm.items():  # before the pool's threads end: a worker dies with its starting thread
        started = time.perf_counter()
        worker.close()
        timeline(study, f"closed worker {slot} {time.perf_counter() - started:.1f}s")
    pool.shutdown(wait=True)

    _finish(study, report, notebooks_dir, kernel, env, grid, gain_measure, export_report)
    return report


def _finish(study: Study, report: GridReport, notebooks_dir: Path, kernel: str, env: dict[str, str],
            grid: list[Cell], gain_measure: str | None, export_report: Callable[..., Path]) -> None:
    """Collect the rows, run the analysis notebook, read its verdict, export the report."""
    import importlib

    try:
        report.results_path = Path(importlib.import_module("xw.results").collect(study)).resolve()
    except Exception as err:  # noqa: BLE001 - the report still shows the cells
        report.analysis_error = f"collecting results failed: {type(err).__name__}: {err}"

    analysis_src = notebooks_dir / ANALYSIS_NOTEBOOK
    analysis_out = executed_dir(study) / ANALYSIS_NOTEBOOK
    if report.analysis_error is None and not analysis_src.is_file():
        report.analysis_error = f"analysis notebook {analysis_src} not found"
    timeline(study, "results collected")
    if report.analysis_error is None:
        parameters: dict[str, Any] = {"results_path": str(report.results_path)}
        if gain_measure is not None:
            parameters["gain_measure"] = gain_measure
        run = execute_notebook(analysis_src, analysis_out, parameters, cwd=notebooks_dir, kernel_name=kernel,
                               start_timeout=study.executor.start_timeout,
                               execution_timeout=study.executor.cell_timeout,
                               log=logs_dir(study) / "analysis.log", env=env)
        if not run.ok:
            report.analysis_error = f"analysis notebook failed ({run.stage}): {run.error}"
        if analysis_out.is_file():  # a failed analysis is still shown: its traceback is the answer
            report.analysis_notebook = analysis_out
            report.verdict = find_verdict(analysis_out)
        if report.verdict is None and report.analysis_error is None:
            report.analysis_error = f"the analysis notebook printed no line starting with {VERDICT_PREFIX!r}"
        timeline(study, f"analysis {'done' if run.ok else 'failed'}")

    cell_notebooks = [executed_dir(study) / f"{c.id}.ipynb" for c in grid]
    notebooks = ([report.analysis_notebook] if report.analysis_notebook else []) + [
        p for p in cell_notebooks if p.is_file()]
    report.report_path = export_report(study, notebooks, report_path(study),
                                       answer_first=report.analysis_notebook is not None,
                                       notice=report.analysis_error or "")
    timeline(study, f"report {report.report_path}")


@dataclass(frozen=True)
class CellState:
    cell: Cell
    state: str  # done | running | failed | skipped | pending
    note: str = ""


def cell_states(study: Study) -> list[CellState]:
    """Each grid cell's state, from the result files, running markers and failure records."""
    from xw import cells as cells_mod

    failures = read_failures(study)
    states = []
    for cell in cells_mod.expand_grid(study):
        marker = running_dir(study) / cell.id
        if marker.exists() and _marker_alive(marker):
            states.append(CellState(cell, "running"))
        elif cells_mod.is_done(study, cell):
            states.append(CellState(cell, "done"))
        elif cell.id in failures:
            record = failures[cell.id]
            first_line = (str(record.get("error") or "").splitlines() or [""])[0]
            states.append(CellState(cell, "skipped" if record.get("skipped") else "failed", first_line))
        else:
            states.append(CellState(cell, "pending", "interrupted run (stale marker)" if marker.exists() else ""))
    return states


if __name__ == "__main__":
    # jsonschema (under nbformat, under papermill) eagerly imports the optional IRI format checker
    # rfc3987_syntax when installed (jupyterlab pulls it in); it compiles a grammar at import, 2-4 s
    # per cell. Notebooks never use that format, so each papermill child runs without it.
    sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]
    if sys.argv[1] == "--serve":
        sys.exit(_serve_main(int(sys.argv[2])))
    sys.exit(_child_main(sys.argv[1]))
