"""Executors: local worker slots pinned to GPUs, and `xw grid --executor slurm` against a REAL Slurm.

The Slurm test needs slurmctld and slurmd answering (``.ci/setup-slurm.sh`` starts a one-node
cluster on localhost as root); without them it skips and says why. It runs one tiny grid locally
and on Slurm (the repository's cell notebooks, with the fake tasks registered in their kernels) and
checks that the results tables are equal, that Slurm ran target cells after their intermediate cell
and cancelled the targets of a failed one, and that a re-run submits only the missing cells.

Equal tables need deterministic cells. xw seeds torch in ``train()``, but the classification heads
are built (randomly initialised) before that, from torch's global generator, whose start-up seed
is random: two runs of one cell can then differ (62.5 vs 100 accuracy on the tiny task). The test
kernels therefore seed torch first (``torch.manual_seed(0)`` in the added cell); with that, local
and Slurm runs agree exactly (tolerance 1e-9, observed difference 0).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import test_faults
import yaml
from test_faults import KEY, make_study, write_notebook

import xw.executors.slurm
from xw import cli, grid, ledger
from xw.cells import expand_grid
from xw.executors import local as local_executor
from xw.layout import executed_dir
from xw.study import load_study

REPO_NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _why_no_slurm() -> str | None:
    """None when a Slurm controller answers and has a usable node; otherwise the reason to skip."""
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return ("Slurm is not installed (no sinfo/sbatch on PATH); run .ci/setup-slurm.sh as root for a "
                "one-node cluster on localhost")
    try:
        out = subprocess.run(["sinfo", "--noheader", "--format=%t"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return f"no Slurm controller answers (sinfo: {err}); start one with .ci/setup-slurm.sh"
    if out.returncode != 0:
        return f"no Slurm controller answers (sinfo: {out.stderr.strip()[:200]}); start one with .ci/setup-slurm.sh"
    states = [s.rstrip("*~#$@^-!%") for s in out.stdout.split()]
    if not any(s in ("idle", "mix", "alloc", "comp") for s in states):
        return f"Slurm answers but has no usable node (sinfo states {states}); see `sinfo -R`"
    return None


WHY_NO_SLURM = _why_no_slurm()
requires_slurm = pytest.mark.skipif(WHY_NO_SLURM is not None, reason=str(WHY_NO_SLURM))


def test_local_worker_slots_are_pinned_round_robin(monkeypatch):
    assert local_executor.worker_env({"A": "1"}, 3, []) == {"A": "1", "XW_WORKER_SLOT": "3"}  # CPU: nothing pinned
    pinned = [local_executor.worker_env({}, slot, ["0", "1"])["CUDA_VISIBLE_DEVICES"] for slot in range(5)]
    assert pinned == ["0", "1", "0", "1", "0"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # the grid's own share of the GPUs is what it hands out
    assert local_executor.visible_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert local_executor.visible_gpus() == []


@pytest.fixture()
def flags(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "flags"
    folder.mkdir()
    monkeypatch.setenv(test_faults.FAULT_DIR_ENV, str(folder))
    return folder


def _scontrol(job_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "--oneliner", "show", "job", job_id], capture_output=True, text=True,
                         timeout=30)
    return dict(f.split("=", 1) for f in out.stdout.split() if "=" in f)


def real_notebooks(folder: Path) -> Path:
    """The repository's cell notebooks with one cell added after the parameters: import the fake tasks."""
    import nbformat
    from nbformat.v4 import new_code_cell

    folder.mkdir(parents=True, exist_ok=True)
    for name in ("intermediate.ipynb", "target.ipynb"):
        nb = nbformat.read(REPO_NOTEBOOKS / name, as_version=4)
        at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
        nb.cells.insert(at + 1, new_code_cell(
            f"import sys\nsys.path.insert(0, {str(test_faults.TESTS)!r})\n"
            "import test_faults  # registers the fake tasks in this kernel\n"
            "import torch\n"
            "torch.manual_seed(0)  # xw builds task heads before train() seeds: see the module docstring"))
        nbformat.write(nb, folder / name)
    write_notebook(folder / "analysis.ipynb", test_faults.ANALYSIS_PARAMETERS, test_faults.ANALYSIS_BODY)
    return folder


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    """Rows without what legitimately differs between two runs (when, how long, the output folder)."""
    keep = [c for c in table.columns if c not in ("finished_at", "wall_seconds")]
    return table[keep].sort_values([*KEY, "split"]).reset_index(drop=True)


@requires_slurm
@pytest.mark.slow
def test_slurm_grid_equals_local_grid_and_resumes(tmp_path, tiny_checkpoint, flags, monkeypatch, capsys):
    monkeypatch.setattr(xw.executors.slurm, "POLL_S", 1.0)
    slurm = {"cpus_per_task": 1, "mem_gb": 1, "gpus_per_node": 0, "timeout_min": 20}
    layout = dict(intermediate=["none", "fake-colour", "fault-flaky"], targets=["fake-colour-x", "fake-bitext"])
    (flags / "oom").touch()  # fault-flaky runs out of memory until this flag goes
    notebooks = real_notebooks(tmp_path / "notebooks")
    # 6 epochs: enough for the tiny models to learn something, so the scores differ between cells
    local = make_study(tmp_path / "local", tiny_checkpoint, layout["intermediate"], layout["targets"], slurm=slurm,
                       training={"epochs": 6})
    on_slurm = make_study(tmp_path / "slurm", tiny_checkpoint, layout["intermediate"], layout["targets"],
                          slurm=slurm, training={"epochs": 6})
    flaky, flaky_target = "intermediate__s__fault-flaky__seed0", "target__s__fault-flaky__fake-colour-x__seed0"

    local_report = grid.run_grid(local, notebooks_dir=notebooks, progress=False, executor="local")
    report = grid.run_grid(on_slurm, notebooks_dir=notebooks, progress=False, executor="slurm")

    # the same outcome, cell by cell, and the same results table
    assert report.executor == "slurm" and len(report.jobs) == len(expand_grid(on_slurm)) + 1
    assert sorted(report.succeeded) == sorted(local_report.succeeded) and len(report.succeeded) == 4
    assert list(report.failed) == list(local_report.failed) == [flaky]
    assert "OutOfMemoryError" in report.failed[flaky]
    assert list(report.skipped) == list(local_report.skipped) == [flaky_target]
    assert report.verdict == local_report.verdict == "VERDICT: 4 complete pairs, 0 incomplete dropped"
    slurm_rows, local_rows = _comparable(test_faults.table(on_slurm)), _comparable(test_faults.table(local))
    assert not slurm_rows.duplicated(subset=[*KEY, "split"]).any()
    pd.testing.assert_frame_equal(slurm_rows, local_rows, check_exact=False, rtol=0, atol=1e-9)
    # the same artefacts as a local run: executed notebooks, failure record with its notebook
    assert sorted(p.name for p in executed_dir(on_slurm).glob("*.ipynb")) == sorted(
        p.name for p in executed_dir(local).glob("*.ipynb"))
    record = ledger.read_failures(on_slurm)[flaky]
    assert record["stage"] == "execution" and Path(record["notebook"]).is_file()
    assert ledger.read_failures(on_slurm)[flaky_target]["skipped"] is True
    # Slurm ordered the jobs: targets after their intermediate (afterok), the analysis after all (afterany);
    # the failed intermediate's target was cancelled by Slurm, never run
    jobs = {cell: _scontrol(job) for cell, job in report.jobs.items()}
    for cell in expand_grid(on_slurm):
        if cell.kind == "target" and cell.id != flaky_target:
            dep = jobs[f"intermediate__s__{cell.intermediate}__seed0"]
            assert jobs[cell.id]["StartTime"] >= dep["EndTime"], (cell.id, jobs[cell.id], dep)
    assert jobs[flaky]["JobState"] == "FAILED"
    assert jobs[flaky_target]["JobState"] == "CANCELLED" and "Dependency" in jobs[flaky_target]["Reason"]
    assert jobs["analysis"]["StartTime"] >= max(j["EndTime"] for c, j in jobs.items() if c != "analysis")
    assert cli.main(["status", str(on_slurm.path), "--output-root", str(on_slurm.output_root)]) == 0
    status = capsys.readouterr().out
    assert "done 4" in status and "failed 1" in status and f"slurm job {report.jobs[flaky]}" in status

    # resume: the fault is gone; only the two missing cells are submitted, and the table is whole
    (flags / "oom").unlink()
    again = grid.run_grid(on_slurm, notebooks_dir=notebooks, progress=False, executor="slurm")
    assert sorted(again.already_done) == sorted(report.succeeded)
    assert sorted(again.succeeded) == sorted([flaky, flaky_target]) and not again.failed and again.ok
    assert set(again.jobs) == {flaky, flaky_target, "analysis"}
    assert again.verdict == "VERDICT: 8 complete pairs, 0 incomplete dropped"
    test_faults.assert_clean(on_slurm)


def _wait_until(condition, timeout_s: float, what: str) -> None:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")


@requires_slurm
@pytest.mark.slow
def test_a_signalled_cell_job_saves_is_requeued_and_ends_like_an_uninterrupted_run(tmp_path, tiny_checkpoint,
                                                                                  flags, monkeypatch):
    """Slurm's pre-timeout USR2 (sent here with ``scancel --signal=USR2``, as Slurm does 90 s before the limit):
    the training saves a checkpoint at its step and stops, the job requeues itself, the requeued job resumes."""
    from xw.layout import resume_dir
    from xw.train_state import complete_steps

    monkeypatch.setattr(xw.executors.slurm, "POLL_S", 1.0)
    slurm = {"cpus_per_task": 1, "mem_gb": 1, "gpus_per_node": 0, "timeout_min": 20}
    training = {"max_steps": 1500, "checkpoint_every_steps": 100}
    notebooks = real_notebooks(tmp_path / "notebooks")
    studies = {where: make_study(tmp_path / where, tiny_checkpoint, ["none"], ["fake-colour-x"], slurm=slurm,
                                 training=training) for where in ("local", "slurm")}
    cell = "target__s__none__fake-colour-x__seed0"
    folder = resume_dir(studies["slurm"], "s-none-fake-colour-x-seed0")

    submitted = grid.run_grid(studies["slurm"], notebooks_dir=notebooks, progress=False, executor="slurm", wait=False)
    job = submitted.jobs[cell]
    _wait_until(lambda: complete_steps(folder), 300, f"the first periodic checkpoint in {folder}")
    subprocess.run(["scancel", "--signal=USR2", job], check=True, timeout=30)
    _wait_until(lambda: int(_scontrol(job).get("Restarts", "0")) >= 1, 120, f"job {job} to be requeued")
    stopped_at = max(complete_steps(folder))
    assert stopped_at > 100  # the training went on after the first checkpoint until the signal
    report = grid.run_grid(studies["slurm"], notebooks_dir=notebooks, progress=False, executor="slurm")
    assert report.ok and cell in report.succeeded + report.already_done, report
    assert _scontrol(job)["JobState"] == "COMPLETED" and int(_scontrol(job)["Restarts"]) == 1
    assert not folder.exists()  # the finished training keeps no checkpoint

    grid.run_grid(studies["local"], notebooks_dir=notebooks, progress=False, executor="local")
    slurm_rows, local_rows = (_comparable(test_faults.table(studies[w])) for w in ("slurm", "local"))
    pd.testing.assert_frame_equal(slurm_rows, local_rows, check_exact=False, rtol=0, atol=1e-9)


@requires_slurm
@pytest.mark.slow
def test_a_cancelled_two_rank_cell_job_leaves_no_rank_behind(tmp_path, tiny_checkpoint, flags, monkeypatch):
    import psutil

    from xw.layout import resume_dir
    from xw.train_state import complete_steps

    slurm = {"cpus_per_task": 2, "mem_gb": 2, "gpus_per_node": 0, "timeout_min": 20}
    study = make_study(tmp_path / "cancel", tiny_checkpoint, ["none"], ["fake-colour-x"], slurm=slurm,
                       training={"max_steps": 100_000, "checkpoint_every_steps": 20})
    raw = yaml.safe_load(study.path.read_text())
    raw["models"]["ladder"][0]["gpus"] = 2
    study.path.write_text(yaml.safe_dump(raw))
    study = load_study(study.path, output_root=study.output_root)
    folder = resume_dir(study, "s-none-fake-colour-x-seed0")
    submitted = grid.run_grid(study, notebooks_dir=real_notebooks(tmp_path / "notebooks"), progress=False,
                              executor="slurm", wait=False)
    job = submitted.jobs["target__s__none__fake-colour-x__seed0"]
    _wait_until(lambda: complete_steps(folder), 300, f"the 2-rank training's first checkpoint in {folder}")

    def ranks() -> list[psutil.Process]:
        return [p for p in psutil.process_iter(["cmdline"])
                if "xw.distributed" in " ".join(p.info["cmdline"] or []) and str(study.output_dir) in
                " ".join(p.info["cmdline"] or [])]

    assert len(ranks()) >= 2
    subprocess.run(["scancel", job], check=True, timeout=30)
    _wait_until(lambda: not ranks(), 60, f"every rank of cancelled job {job} to end")
