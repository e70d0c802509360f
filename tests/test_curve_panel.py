"""The report's training-curves panel (issue 14): one small loss plot per trained cell, a diverged cell marked
in red, and one link per trained cell to its curves folder, relative to the report."""

from __future__ import annotations

import os
import re
from pathlib import Path

import fake_tasks

from xw import checkpoints, curve_panel
from xw.cells import Cell
from xw.layout import report_path, target_curves
from xw.report import export_report, external_scripts
from xw.tracking import SKETCH, SKETCH_POINTS, CurveWriter, read_loss_sketch
from xw.train import StepLog


def _write(folder: Path, losses: list[float], tag: str) -> None:
    writer = CurveWriter(folder, tag=tag)
    for step, loss in enumerate(losses, start=1):
        writer(StepLog(step=step, loss=loss, grad_norm=0.1, learning_rate=1e-3, tokens=64, seconds=0.01))
    writer.close()


def test_the_report_draws_one_panel_per_trained_cell_links_its_folder_and_marks_a_diverged_one(
        tmp_path, tiny_checkpoint):
    study = fake_tasks.load_fake_study(tmp_path, {"s": str(tiny_checkpoint)})
    ok, bad = (Cell("target", "s", inter, 0, "fake-colour-x") for inter in ("none", "fake-colour"))
    _write(target_curves(study, "s", "none", "fake-colour-x", 0), [2.0, 1.4, 0.9, 0.7], "target")
    _write(target_curves(study, "s", "fake-colour", "fake-colour-x", 0), [1.0, 1.3, 1.8, 2.5], "target")
    phase_ii = checkpoints.intermediate_dir(study, study.ladder[0], "fake-colour", 0) / "curves"
    _write(phase_ii, [3.0, 2.0, 1.0], "intermediate")

    page = export_report(study, [], report_path(study)).read_text()

    assert 'id="training-curves"' in page and "Training curves (3 trained cells, 1 diverged)" in page
    assert external_scripts(page) == [] and page.count("plotly.js v") == 1, "the panel is drawn offline"
    links = re.findall(r'class="xw-curves-link" href="([^"]+)"', page)
    assert len(links) == 3, "one link per trained cell, none for the untrained ones"
    assert all(not os.path.isabs(link) for link in links)
    assert {(report_path(study).parent / link).resolve() for link in links} == {
        target_curves(study, "s", "none", "fake-colour-x", 0).resolve(),
        target_curves(study, "s", "fake-colour", "fake-colour-x", 0).resolve(), phase_ii.resolve()}
    rows = re.findall(r'<tr class="xw-curve-row">(.*?)</tr>', page)
    marked = [row for row in rows if "xw-diverged" in row]
    assert len(marked) == 1 and bad.id in marked[0] and ok.id not in marked[0]
    figure = re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), page)  # plotly's JSON escapes
    assert "s/fake-colour/fake-colour-x<br>seed0 · DIVERGED" in figure
    assert "s/none/fake-colour-x<br>seed0\"" in figure, "a cell whose loss went down is not marked"
    assert "s/fake-colour<br>seed0" in figure, "phase (ii)'s curve has a panel too"


def test_the_panel_puts_diverged_cells_first_caps_the_panels_and_thins_long_curves(tmp_path):
    def curve(i: int, bad: bool, steps: int = 10) -> curve_panel.CellCurve:
        points = tuple(range(1, steps + 1))
        return curve_panel.CellCurve(Cell("target", "s", "none", i, "t"), tmp_path, points,
                                     tuple(float(p) for p in points), 1.0, 2.0, bad)

    curves = [curve(i, bad=(i == curve_panel.MAX_PANELS + 5)) for i in range(curve_panel.MAX_PANELS + 10)]
    fig = curve_panel.panel_figure(curves)
    assert len(fig.data) == curve_panel.MAX_PANELS
    assert fig.layout.annotations[0].text == f"s/none/t<br>seed{curve_panel.MAX_PANELS + 5} · DIVERGED"
    assert fig.layout.annotations[1].text == "s/none/t<br>seed0"
    assert fig.data[0].line.color == curve_panel.DIVERGED_COLOUR and fig.data[1].line.color == curve_panel.OK_COLOUR
    assert len(fig.layout.shapes) == 1, "only the diverged panel is tinted"
    page = curve_panel.panel_html(curves, tmp_path / "report.html")
    assert f"Only the first {curve_panel.MAX_PANELS} panels" in page and page.count("xw-curves-link") == len(curves)


def test_a_long_curve_is_sketched_for_the_panel_and_a_failed_one_read_from_its_events(tmp_path):
    losses = [1.0 / step for step in range(1, 1001)]
    _write(tmp_path / "done", losses, "target")
    steps, sketch = read_loss_sketch(tmp_path / "done")
    assert len(steps) <= SKETCH_POINTS + 1 and steps[0] == 1 and steps[-1] == 1000
    assert sketch[-1] == losses[-1] and steps == sorted(steps)
    writer = CurveWriter(tmp_path / "failed", tag="target")  # raised before close: no sketch, events only
    for step in (1, 2, 3):
        writer(StepLog(step=step, loss=float(step), grad_norm=0.1, learning_rate=1e-3, tokens=8, seconds=0.01))
    writer.backends[0].fail()
    assert not (tmp_path / "failed" / SKETCH).exists()
    assert read_loss_sketch(tmp_path / "failed") == ([1, 2, 3], [1.0, 2.0, 3.0])
