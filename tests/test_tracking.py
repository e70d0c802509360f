"""Training curves (issue 14): TensorBoard files hold every step's loss; a loss that did not go down is flagged."""

from __future__ import annotations

import fake_tasks
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from xw.cells import Cell, run_cell
from xw.study import load_study
from xw.tracking import CurveWriter, diverged, read_summary
from xw.train import StepLog


def _losses(log_dir, tag):
    events = EventAccumulator(str(log_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def _array(value):
    """A plotly JSON array: a list, or plotly >= 6's typed array ({"dtype", "bdata": base64})."""
    import base64

    import numpy as np

    if isinstance(value, dict) and "bdata" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
    return np.asarray(value)


def test_every_logged_step_is_read_back_and_a_rising_loss_is_flagged(tmp_path):
    writer = CurveWriter(tmp_path / "run", tag="target")
    for step, loss in enumerate([1.0, 1.5, 2.0, 2.5], start=1):
        writer(StepLog(step=step, loss=loss, grad_norm=0.5, learning_rate=1e-3, tokens=100, seconds=0.1))
    summary = writer.close()
    assert [round(v, 4) for _, v in _losses(tmp_path / "run", "target/loss")] == [1.0, 1.5, 2.0, 2.5]
    assert [s for s, _ in _losses(tmp_path / "run", "target/tokens_per_second")] == [1, 2, 3, 4]
    assert summary["train_diverged"] is True and read_summary(tmp_path / "run")["train_final_loss"] == 2.5


def test_diverged_means_final_not_below_initial_or_not_finite():
    assert not diverged([2.0, 1.0, 0.5])
    assert diverged([1.0, 1.0])
    assert diverged([1.0, float("nan")])
    assert not diverged([])


def test_a_target_cell_writes_its_curve_and_flags_it_in_its_rows(tmp_path, tiny_checkpoint, monkeypatch):
    import xw.tracking

    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(fake_tasks.study_dict({"s": str(tiny_checkpoint)})))
    study = load_study(path, output_root=tmp_path / "outputs")
    monkeypatch.setattr(xw.tracking, "diverged", lambda losses: True)  # a training whose loss did not go down
    frame = run_cell(study, Cell("target", "s", "none", 0, "fake-colour-x"), progress=False)
    folder = study.output_dir / "curves" / "s-none-fake-colour-x-seed0"
    losses = _losses(folder, "target/loss")
    assert len(losses) >= 2 and [s for s, _ in losses] == sorted(s for s, _ in losses)
    assert frame["train_diverged"].astype(bool).all()
    assert frame["train_initial_loss"].iloc[0] == losses[0][1] or abs(frame["train_initial_loss"].iloc[0]
                                                                        - losses[0][1]) < 1e-6


def test_pretraining_and_phase_ii_curves_travel_with_their_checkpoints(tmp_path, tiny_checkpoint):
    from xw.pretrain import pretrain_mlm

    out = pretrain_mlm(world_seed=0, layers=1, hidden=16, heads=2, intermediate_size=32, steps=6, batch_size=4,
                       learning_rate=1e-3, seed=0, progress=False, corpus_docs=200, out_dir=tmp_path / "pt")
    assert [s for s, _ in _losses(out / "curves", "pretrain/loss")] == [1, 2, 3, 4, 5, 6]
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(fake_tasks.study_dict({"s": str(tiny_checkpoint)})))
    study = load_study(path, output_root=tmp_path / "outputs")
    frame = run_cell(study, Cell("intermediate", "s", "fake-colour", 0), progress=False)
    from xw import checkpoints

    folder = checkpoints.intermediate_dir(study, study.ladder[0], "fake-colour", 0) / "curves"
    assert _losses(folder, "intermediate/loss")
    assert frame["train_initial_loss"].notna().all()


def test_a_resumed_training_continues_its_curve_and_a_fresh_one_starts_over(tmp_path):
    def log(step: int, loss: float) -> StepLog:
        return StepLog(step=step, loss=loss, grad_norm=1.0, learning_rate=1e-3, tokens=10, seconds=0.1)

    first = CurveWriter(tmp_path / "c")
    for step, loss in enumerate([5.0, 4.0, 3.0, 9.0, 9.0], start=1):  # killed after step 5, checkpoint at 3
        first(log(step, loss))
    first.close()  # its event-file thread must not outlive the folder
    resumed = CurveWriter(tmp_path / "c", resume_from=3)
    assert resumed.losses == [5.0, 4.0, 3.0]  # steps 4-5 are taken again by the resumed run
    resumed(log(4, 2.0))
    resumed(log(5, 1.0))
    summary = resumed.close()
    assert summary["train_initial_loss"] == 5.0 and summary["train_final_loss"] == 1.0
    assert resumed.losses == [5.0, 4.0, 3.0, 2.0, 1.0]
    fresh = CurveWriter(tmp_path / "c")  # a re-run from scratch: nothing of the old curve
    assert fresh.losses == [] and not (tmp_path / "c").exists()


def test_the_target_notebook_plots_its_cells_loss_curve_under_papermill(tmp_path, tiny_checkpoint):
    """notebooks/target.ipynb as the grid runs it (papermill, in notebooks/), with the fake tasks registered by
    one inserted cell: its last figure is the cell's loss per step, read back through xw.tracking.read_curve."""
    from pathlib import Path

    import nbformat
    import papermill
    from nbformat.v4 import new_code_cell

    from xw.execution.kernel import ensure_kernel
    from xw.layout import target_curves
    from xw.tracking import read_curve

    root, tests = Path(__file__).resolve().parents[1], Path(__file__).resolve().parent
    nb = nbformat.read(root / "notebooks" / "target.ipynb", as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, new_code_cell(f"import sys\nsys.path.insert(0, {str(tests)!r})\nimport fake_tasks"))
    source = tmp_path / "target.ipynb"
    nbformat.write(nb, source)
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(fake_tasks.study_dict({"s": str(tiny_checkpoint)})))
    executed = tmp_path / "executed.ipynb"
    papermill.execute_notebook(str(source), str(executed), kernel_name=ensure_kernel(), cwd=str(root / "notebooks"),
                               parameters={"study_path": str(path), "output_root": str(tmp_path / "outputs"),
                                           "scale": "s", "intermediate": "none", "target": "fake-colour-x",
                                           "seed": 0},
                               start_timeout=120, execution_timeout=300, progress_bar=False)
    figures = [o["data"]["application/vnd.plotly.v1+json"] for c in nbformat.read(executed, as_version=4).cells
               if c.cell_type == "code" for o in c.get("outputs", [])
               if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figures) == 2, "the scores per language, then the loss curve"
    loss = figures[-1]
    assert "training loss" in loss["layout"]["title"]["text"]
    study = load_study(path, output_root=tmp_path / "outputs")
    curve = read_curve(target_curves(study, "s", "none", "fake-colour-x", 0))
    expected = curve[curve["metric"] == "loss"]
    assert len(expected) >= 2
    (trace,) = loss["data"]
    assert _array(trace["x"]).tolist() == expected["step"].tolist()
    assert [round(float(v), 5) for v in _array(trace["y"])] == [round(v, 5) for v in expected["value"]]
