"""Faults injected into real grid runs: kill -9 (kernel, papermill worker, the whole grid), cells that
raise (NaN loss, out of memory, missing data), a half-written checkpoint, two grids on one study, and
kill -9 during a result write. After each: nothing lost, no partial or duplicate rows, and a re-run
finishes only the missing cells.

The cell notebooks here are minimal (parameters, then xw.cells.run_cell), so the kernels start fast;
they import this module first, which registers the fake tasks (tests/fake_tasks.py) and the fault
tasks below inside the kernel. A fault task blocks in its loader while a flag file exists in
$XW_FAULT_DIR, so a test can kill a process at a known point: inside the cell, mid-checkpoint-build.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import fake_tasks
import pandas as pd
import psutil
import pytest
import yaml

from xw import checkpoints, cli, grid, layout, ledger
from xw.cells import expand_grid
from xw.errors import DataNotFoundError
from xw.layout import result_path
from xw.lock import LockHeld
from xw.results import COLUMNS
from xw.study import load_study
from xw.tasks import TaskSpec, all_tasks, register

TESTS = Path(__file__).resolve().parent
KEY = ["scale", "intermediate_task", "target_task", "language", "seed", "metric"]
FAULT_DIR_ENV = "XW_FAULT_DIR"


# ---- fault tasks (registered here and, through the notebooks' first cell, in every kernel) -------------


def _hang_loader(name: str):
    def loader(split, language, data):
        flags = Path(os.environ.get(FAULT_DIR_ENV, "/nonexistent"))
        if (flags / f"hang-{name}").exists():
            (flags / f"reached-{name}-{os.getpid()}").touch()
            deadline = time.monotonic() + 300
            while (flags / f"hang-{name}").exists() and time.monotonic() < deadline:
                time.sleep(0.2)
        return fake_tasks.colour_loader(split, language, data)
    return loader


def _oom_loader(split, language, data):
    import torch

    error = getattr(torch, "OutOfMemoryError", MemoryError)
    raise error("CUDA out of memory. Tried to allocate 20.00 GiB (simulated by tests/test_faults.py)")


def _flaky_loader(split, language, data):
    """Out of memory while the flag file 'oom' exists (so a re-run can succeed), else the colour data."""
    if (Path(os.environ.get(FAULT_DIR_ENV, "/nonexistent")) / "oom").exists():
        _oom_loader(split, language, data)
    return fake_tasks.colour_loader(split, language, data)


def _missing_loader(split, language, data):
    raise DataNotFoundError(f"task 'fault-missing': no {split} file for {language} under /data/xtreme "
                            "(simulated by tests/test_faults.py)")


def _register(name: str, loader, role: str = "intermediate") -> None:
    if name not in all_tasks():
        register(TaskSpec(name=name, kind="classification", family="classification", role=role,
                          languages=("en",) if role == "intermediate" else ("en", "xx", "yy"), metric="accuracy",
                          loader=loader, label_names=("blue", "red"), primary_metric="accuracy"))


for _name in ("fault-hang-a", "fault-hang-b"):
    _register(_name, _hang_loader(_name))
_register("fault-oom", _oom_loader)
_register("fault-flaky", _flaky_loader)
_register("fault-missing", _missing_loader)


# ---- a study over them, and notebooks whose kernels know them ---------------------------------------------

PARAMETERS = 'study_path = ""\noutput_root = ""\nscale = ""\nintermediate = "none"\ntarget = ""\nseed = 0'
CELL_BODY = f"""import sys
sys.path.insert(0, {str(TESTS)!r})
import test_faults  # noqa: F401 - registers the fake and fault tasks in this kernel
from xw.cells import Cell, run_cell
from xw.study import load_study

study = load_study(study_path, output_root)
cell = Cell("target" if target else "intermediate", scale, intermediate, int(seed), target or None)
rows = run_cell(study, cell, progress=False)
print(len(rows), "rows")"""
ANALYSIS_PARAMETERS = 'results_path = ""\ngain_measure = "absolute"'
# the analysis step as the real notebook does it: gains from complete (intermediate, baseline) pairs only
ANALYSIS_BODY = """from pathlib import Path
import pandas as pd
from xw.analysis.gains import compute_gains

gains = compute_gains(pd.read_csv(results_path))
gains.to_csv(Path(results_path).with_name("gains.csv"), index=False)
print(f"VERDICT: {len(gains)} complete pairs, {gains.attrs['n_dropped']} incomplete dropped")"""
KERNEL_META = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
               "language_info": {"name": "python"}}


def write_notebook(path: Path, parameters: str, body: str) -> None:
    import nbformat  # not at module level: every kernel imports this module, and nbformat costs seconds
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(parameters, metadata={"tags": ["parameters"]}), new_code_cell(body)],
                      metadata=KERNEL_META)
    nbformat.write(nb, path)


def make_notebooks(folder: Path, analysis: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("intermediate", "target"):
        write_notebook(folder / f"{name}.ipynb", PARAMETERS, CELL_BODY)
    if analysis:
        write_notebook(folder / "analysis.ipynb", ANALYSIS_PARAMETERS, ANALYSIS_BODY)
    return folder


def make_study(tmp_path: Path, checkpoint: Path, intermediate: list[str], targets: list[str], *,
               name: str = "faults", workers: int = 2, tasks: dict | None = None, slurm: dict | None = None,
               training: dict | None = None):
    raw = fake_tasks.study_dict({"s": str(checkpoint)}, name=name)
    raw["intermediate_tasks"], raw["target_tasks"] = intermediate, targets
    raw["executor"] = {"workers": workers, "start_timeout": 120, "cell_timeout": 600}
    if slurm is not None:
        raw["executor"]["slurm"] = slurm
    if tasks:
        raw["training"]["tasks"] = tasks
    raw["training"]["default"].update(training or {})
    path = tmp_path / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return load_study(path, output_root=tmp_path / "outputs")


def table(study) -> pd.DataFrame:
    return pd.read_csv(study.output_dir / "results.csv")


def assert_clean(study) -> None:
    """No partial or duplicate rows, no running marker or temp file left behind."""
    rows = table(study)
    assert not rows.duplicated(subset=KEY).any(), "duplicate result rows"
    assert list(rows.columns) == COLUMNS and rows["value"].notna().all(), "partial result rows"
    for path in (study.output_dir / "cells").glob("*.csv"):  # every cell file is whole
        assert list(pd.read_csv(path).columns) == COLUMNS
    assert not list(layout.running_dir(study).glob("*")), "stale running markers"
    assert not list(layout.executed_dir(study).glob(".*")), "temp notebooks left behind"
    assert not [p for p in (study.output_root / "_cache").rglob(".*") if p.is_dir()], "temp checkpoint folders"


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def reached(flags: Path, task: str) -> list[int]:
    return [int(p.name.rsplit("-", 1)[1]) for p in flags.glob(f"reached-{task}-*")]


def gone(pids: list[int]) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


@pytest.fixture()
def flags(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "flags"
    folder.mkdir()
    monkeypatch.setenv(FAULT_DIR_ENV, str(folder))
    return folder


# ---- the tests --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_cells_that_raise_are_recorded_and_the_grid_goes_on(tmp_path, tiny_checkpoint):
    """NaN loss (huge learning rate), out of memory and missing data: each cell is recorded as failed
    with its error and executed notebook, its targets are skipped, the rest of the grid completes, and
    the analysis sees only complete pairs."""
    study = make_study(tmp_path, tiny_checkpoint, ["none", "fake-colour", "fake-nouns", "fault-oom",
                                                   "fault-missing"], ["fake-colour-x"],
                       tasks={"fake-nouns": {"learning_rate": 1e30}})
    notebooks = make_notebooks(tmp_path / "notebooks")
    report = grid.run_grid(study, notebooks_dir=notebooks, progress=False)

    expected = {"intermediate__s__fake-nouns__seed0": ("TrainingError", "loss became nan"),
                "intermediate__s__fault-oom__seed0": ("OutOfMemoryError", "out of memory"),
                "intermediate__s__fault-missing__seed0": ("DataNotFoundError", "no train file")}
    assert set(report.failed) == set(expected)
    for cell_id, (kind, words) in expected.items():
        record = json.loads((study.output_dir / "failed" / f"{cell_id}.json").read_text())
        assert kind in record["error"] and words in record["error"] and record["stage"] == "execution"
        assert Path(record["notebook"]).is_file() and kind in Path(record["notebook"]).read_text()
    assert set(report.skipped) == {f"target__s__{i}__fake-colour-x__seed0" for i in
                                   ("fake-nouns", "fault-oom", "fault-missing")}
    good = {"intermediate__s__none__seed0", "intermediate__s__fake-colour__seed0",
            "target__s__none__fake-colour-x__seed0", "target__s__fake-colour__fake-colour-x__seed0"}
    assert set(report.succeeded) == good
    # the analysis ran on what finished: complete (fake-colour, none) pairs only
    assert report.verdict == "VERDICT: 2 complete pairs, 0 incomplete dropped", report.analysis_error
    gains = pd.read_csv(study.output_dir / "gains.csv")
    assert set(gains.intermediate_task) == {"fake-colour"} and gains[["baseline", "score"]].notna().all().all()
    # the report lists the failed and skipped cells
    page = report.report_path.read_text()
    assert all(cell_id in page for cell_id in {*report.failed, *report.skipped})
    assert_clean(study)
    assert len(table(study)) == sum(len(pd.read_csv(result_path(study, c))) for c in expand_grid(study)
                                    if c.id in good)
    states = {s.cell.id: s.state for s in ledger.cell_states(study)}
    assert [cid for cid, state in states.items() if state == "failed"] == list(expected)


@pytest.mark.slow
def test_kill_9_of_a_kernel_and_of_a_worker_then_resume(tmp_path, tiny_checkpoint, flags):
    """kill -9 of one cell's kernel and of another cell's papermill process, mid-cell (mid-checkpoint
    build): both are recorded as failed, no orphan survives, and a re-run finishes exactly the missing
    cells."""
    # a retrieval target is scored inside the intermediate cells: no target cells, a shorter re-run
    study = make_study(tmp_path, tiny_checkpoint, ["fault-hang-a", "fault-hang-b"], ["fake-bitext"])
    notebooks = make_notebooks(tmp_path / "notebooks", analysis=False)
    for task in ("fault-hang-a", "fault-hang-b"):
        (flags / f"hang-{task}").touch()
    reports: list = []
    runner = threading.Thread(target=lambda: reports.append(grid.run_grid(study, notebooks_dir=notebooks,
                                                                          progress=False)))
    runner.start()
    try:
        kernel_a = wait_for(lambda: reached(flags, "fault-hang-a"), 180, "cell a to reach its loader")[0]
        kernel_b = wait_for(lambda: reached(flags, "fault-hang-b"), 180, "cell b to reach its loader")[0]
        worker_b = psutil.Process(kernel_b).parent().pid
        assert "xw.execution.child" in " ".join(psutil.Process(worker_b).cmdline())
        os.kill(kernel_a, signal.SIGKILL)  # as the OOM killer would
        os.kill(worker_b, signal.SIGKILL)
        runner.join(240)
    finally:
        for p in flags.glob("hang-*"):
            p.unlink()
        runner.join(300)
    assert reports, "the grid did not finish"
    report = reports[0]
    a, b = "intermediate__s__fault-hang-a__seed0", "intermediate__s__fault-hang-b__seed0"
    assert set(report.failed) == {a, b} and not report.skipped and not report.succeeded
    assert "DeadKernelError" in report.failed[a] or "died" in report.failed[a]
    record_b = json.loads((study.output_dir / "failed" / f"{b}.json").read_text())
    assert record_b["stage"] == "crashed" and "-9" in record_b["error"]
    assert wait_for(lambda: gone([kernel_a, kernel_b, worker_b]), 30, "the killed cells' processes to end")

    again = grid.run_grid(study, notebooks_dir=notebooks, progress=False)
    assert sorted(again.succeeded) == sorted(c.id for c in expand_grid(study)) and not again.failed
    assert not again.already_done
    assert not list((study.output_dir / "failed").glob("*.json"))
    assert_clean(study)


@pytest.mark.slow
def test_kill_9_of_the_whole_grid_lock_and_half_written_checkpoint(tmp_path, tiny_checkpoint, flags, capsys):
    """A grid (its own process) is killed with -9 in the middle of a cell that is building a checkpoint.
    While it runs, a second grid on the same study refuses; after the kill its workers die with it,
    the lock is free, the half-written checkpoint is rebuilt, and a re-run finishes the missing cells."""
    study = make_study(tmp_path, tiny_checkpoint, ["fault-hang-a"], ["fake-bitext"], workers=1)
    notebooks = make_notebooks(tmp_path / "notebooks", analysis=False)
    (flags / "hang-fault-hang-a").touch()
    script = (f"import sys; sys.path.insert(0, {str(TESTS)!r}); import test_faults; from xw.cli import main; "
              f"sys.exit(main(['grid', {str(study.path)!r}, '--output-root', {str(study.output_root)!r}, "
              f"'--notebooks', {str(notebooks)!r}, '--no-progress']))")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=tmp_path, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        kernel = wait_for(lambda: reached(flags, "fault-hang-a"), 180, "the cell to reach its loader")[0]
        worker = psutil.Process(kernel).parent().pid
        # two grids on one study: the second refuses at once, with a clear message and exit code 2
        with pytest.raises(LockHeld, match="another xw grid is already running study 'faults'"):
            grid.run_grid(study, notebooks_dir=notebooks, progress=False)
        sigterm = signal.getsignal(signal.SIGTERM)
        try:
            code = cli.main(["grid", str(study.path), "--output-root", str(study.output_root), "--notebooks",
                             str(notebooks), "--no-progress"])
        finally:
            signal.signal(signal.SIGTERM, sigterm)
        err = capsys.readouterr().err
        assert code == 2 and f"pid {proc.pid}" in err and "already running" in err and "Traceback" not in err
        ckpt = checkpoints.intermediate_dir(study, study.scale("s"), "fault-hang-a", 0)
        assert list(ckpt.parent.glob(f".{ckpt.name}.*")), "the killed cell was building its checkpoint"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert wait_for(lambda: gone([worker, kernel]), 30, "the grid's worker and kernel to die with it")
    finally:
        (flags / "hang-fault-hang-a").unlink()
        if proc.poll() is None:
            proc.kill()
    cell = "intermediate__s__fault-hang-a__seed0"
    states = {s.cell.id: s for s in ledger.cell_states(study)}
    assert states[cell].state == "pending" and "stale marker" in states[cell].note
    # a non-atomic writer killed mid-save (or a copy cut short): weights without the completion marker
    ckpt.mkdir(parents=True)
    (ckpt / "config.json").write_text('{"model_type": "xlm-rob')
    (ckpt / "model.safetensors").write_bytes(b"truncated")

    report = grid.run_grid(study, notebooks_dir=notebooks, progress=False)
    assert report.succeeded == [cell] and not report.failed  # its retrieval rows come from the rebuilt encoder
    assert len(table(study)) > 0 and set(table(study).intermediate_task) == {"fault-hang-a"}
    assert checkpoints.is_complete(ckpt) and json.loads((ckpt / checkpoints.MARKER).read_text())["seed"] == 0
    assert_clean(study)


WRITER = """import sys, pandas as pd
from pathlib import Path
from xw.results import atomic_write_csv
out, n = Path(sys.argv[1]), 0
frame = pd.DataFrame({"k": range(20000), "value": 1.0})
atomic_write_csv(frame.assign(version=n), out)
print("ready", flush=True)
while True:
    n += 1
    atomic_write_csv(frame.assign(version=n), out)
"""


def test_kill_9_during_result_writes_leaves_whole_files(tmp_path):
    """A process killed while rewriting a result file: the file is always the old or the new version,
    never a partial one (temp file + fsync + rename)."""
    out = tmp_path / "cells" / "cell.csv"
    for delay in (0.3, 0.55, 0.8):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out)], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        frame = pd.read_csv(out)
        assert len(frame) == 20000 and frame["version"].nunique() == 1 and frame["value"].notna().all()
