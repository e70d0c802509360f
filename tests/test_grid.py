"""The grid runner, the report and the CLI, on throwaway notebooks (no models, a few kernels).

The cell notebooks written here only write a result row (or raise), so what is tested is the
machinery: papermill in child processes, executed copies, failure records, resume, dependency
skipping, the analysis verdict and an offline report.
"""

from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import nbformat  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from conftest import two_scale_mini_study  # noqa: E402
from nbformat.v4 import new_code_cell, new_notebook  # noqa: E402
from plotly.offline import get_plotlyjs  # noqa: E402

import xw.cells  # noqa: E402
import xw.checkpoints  # noqa: E402
from xw import cli, grid, layout, ledger, scheduler  # noqa: E402
from xw.execution.kernel import ensure_kernel  # noqa: E402
from xw.execution.notebook import execute_notebook  # noqa: E402
from xw.report import drop_plotlyjs_bundles, export_report, external_scripts  # noqa: E402
from xw.results import COLUMNS  # noqa: E402
from xw.study import study_from_dict  # noqa: E402
from xw.tasks import TaskSpec, override  # noqa: E402

KERNEL_META = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
               "language_info": {"name": "python"}}

CELL_PARAMETERS = """study_path = ""
output_root = ""
scale = ""
intermediate = "none"
target = ""
seed = 0"""

# Writes the cell's result row (and id) like xw.cells.run_cell would; raises for the "fake-int" intermediate
# task while the FAIL flag file exists; logs which process and folder it ran in.
CELL_BODY = """import csv
import os
from pathlib import Path

root = Path(output_root)
kind = "target" if target else "intermediate"
cell_id = "__".join([kind, scale, intermediate] + ([target] if target else []) + [f"seed{seed}"])
with open(root.parent / "runs.log", "a") as log:
    log.write(f"{cell_id} {os.getppid()} {os.getcwd()}\\n")
if kind == "intermediate" and intermediate == "fake-int" and (root.parent / "FAIL").exists():
    raise RuntimeError("boom: intermediate training diverged")
row = dict.fromkeys(COLUMNS, "")
row.update(study="gridtest", scale=scale, intermediate_task=intermediate, target_task=target or "none",
           language="en", seed=int(seed), metric="accuracy", value=50.0, primary=True)
out = root / "gridtest" / "cells" / f"{cell_id}.csv"
out.parent.mkdir(parents=True, exist_ok=True)
with open(out, "w", newline="") as handle:  # plain csv: importing pandas in every kernel costs seconds
    writer = csv.DictWriter(handle, COLUMNS)
    writer.writeheader()
    writer.writerow(row)
print("wrote", out)""".replace("COLUMNS", repr(COLUMNS))

ANALYSIS_BODY = """import plotly.graph_objects as go
import plotly.io as pio
pio.renderers.default = "plotly_mimetype+notebook"
rows = len(open(results_path).read().splitlines()) - 1
print(f"VERDICT: test verdict from {rows} rows ({gain_measure})")
go.Figure(go.Bar(x=["a", "b"], y=[1, 2], name="xw-test-trace")).show()"""


def _notebook(path: Path, parameters: str, body: str) -> None:
    nb = new_notebook(cells=[new_code_cell(parameters, metadata={"tags": ["parameters"]}),
                             new_code_cell(body)], metadata=KERNEL_META)
    nbformat.write(nb, path)


@pytest.fixture()
def grid_tasks():
    """The study's two tasks, registered for the test only."""
    specs = [TaskSpec(name=name, kind="classification", family="classification", role=role,
                      languages=("en",), metric="accuracy", loader=lambda *a: None)
             for name, role in (("fake-int", "intermediate"), ("fake-cls", "target"))]
    with override(*specs):
        yield specs


@pytest.fixture()
def workspace(tmp_path, monkeypatch, grid_tasks):
    """A study of 4 cells (2 intermediate x 1 target, 1 scale, 1 seed) and its throwaway notebooks."""
    monkeypatch.setattr(xw.cells, "prepare_models", lambda study, workers=1: None)
    raw = {"study": "gridtest", "models": {"ladder": [{"name": "s", "hub": "fake/model"}]},
           "intermediate_tasks": ["none", "fake-int"], "target_tasks": ["fake-cls"], "seeds": [0],
           "executor": {"workers": 2, "start_timeout": 60, "cell_timeout": 120}}
    params = tmp_path / "gridtest.yaml"
    params.write_text(json.dumps(raw))  # JSON is YAML
    study = study_from_dict(raw, params, tmp_path / "outputs")
    notebooks = tmp_path / "notebooks"
    notebooks.mkdir()
    for name in ("intermediate", "target"):
        _notebook(notebooks / f"{name}.ipynb", CELL_PARAMETERS, CELL_BODY)
    _notebook(notebooks / "analysis.ipynb", 'results_path = ""\ngain_measure = "absolute"', ANALYSIS_BODY)
    return study, notebooks, tmp_path


def _runs(tmp_path: Path) -> list[list[str]]:
    return [line.split(" ", 2) for line in (tmp_path / "runs.log").read_text().splitlines()]


def test_grid_runs_records_failures_resumes_and_reports(workspace):
    study, notebooks, tmp_path = workspace
    (tmp_path / "FAIL").touch()
    bad, bad_target = "intermediate__s__fake-int__seed0", "target__s__fake-int__fake-cls__seed0"
    good = {"intermediate__s__none__seed0", "target__s__none__fake-cls__seed0"}

    report = grid.run_grid(study, notebooks_dir=notebooks, progress=False, gain_measure="relative")

    # papermill ran each notebook in a child process, in the notebooks folder
    runs = _runs(tmp_path)
    assert {r[0] for r in runs} == good | {bad}
    assert all(int(ppid) != os.getpid() and cwd == str(notebooks.resolve()) for _, ppid, cwd in runs)
    out = study.output_dir
    assert sorted(p.name for p in (out / "notebooks").glob("*.ipynb")) == sorted(
        [f"{c}.ipynb" for c in good | {bad}] + ["analysis.ipynb"])
    assert not list((out / "notebooks").glob(".*")), "temp notebooks left behind"
    # the failure is recorded, the grid went on, and the dependent target was skipped with the reason
    assert set(report.succeeded) == good and list(report.failed) == [bad]
    assert "boom" in report.failed[bad]
    record = json.loads((out / "failed" / f"{bad}.json").read_text())
    assert "boom" in record["error"] and Path(record["notebook"]).is_file()
    assert bad in report.skipped[bad_target]
    assert json.loads((out / "failed" / f"{bad_target}.json").read_text())["skipped"] is True
    assert not list((out / "running").glob("*")), "running markers must be removed"
    # the analysis ran on the collected results and its verdict was found
    assert report.verdict == "VERDICT: test verdict from 2 rows (relative)"
    assert report.results_path == (out / "results.csv").resolve()
    # the report: offline, with plotly.js inlined once and the figure's JSON
    page = report.report_path.read_text()
    assert report.report_path == out / "report.html"
    assert external_scripts(page) == [] and '<script src="http' not in page
    assert page.count("plotly.js v") == 1 and "xw-test-trace" in page and "Plotly.newPlot" in page
    outside_plotlyjs = page.replace(get_plotlyjs(), "")
    assert not any(cdn in outside_plotlyjs for cdn in ("cdn.plot.ly", "cdnjs", "unpkg", "jsdelivr", "require"))
    assert "VERDICT: test verdict" in page and bad in page
    # the timeline says where the wall time went: each cell's start and end, then analysis and report
    events = [line.split(" ", 1)[1] for line in (out / "logs" / "grid.log").read_text().splitlines()]
    assert events[0] == "grid 4 of 4 cells to run, 2 workers"
    for cell_id in good | {bad}:
        assert any(e.startswith(f"start {cell_id} worker ") for e in events)
        assert any(e.startswith(f"end {cell_id} worker ") and e.endswith("s") for e in events)
    assert events[-3:] == ["results collected", "analysis done", f"report {report.report_path}"]

    states = {s.cell.id: s.state for s in ledger.cell_states(study)}
    assert states == {**dict.fromkeys(good, "done"), bad: "failed", bad_target: "skipped"}

    # the failed cell is fixed by hand (as `xw run-cell` would); the re-run skips every done cell,
    # drops the stale failure record, runs only the previously skipped target and removes its record
    rows = pd.read_csv(layout.result_path(study, xw.cells.Cell("intermediate", "s", "none", 0)))
    rows.assign(intermediate_task="fake-int").to_csv(
        layout.result_path(study, xw.cells.Cell("intermediate", "s", "fake-int", 0)), index=False)
    report2 = grid.run_grid(study, notebooks_dir=notebooks, progress=False)
    assert sorted(report2.already_done) == sorted(good | {bad})
    assert [r[0] for r in _runs(tmp_path)[len(runs):]] == [bad_target]
    assert report2.succeeded == [bad_target] and report2.ok, report2
    assert not list((out / "failed").glob("*.json"))
    assert report2.verdict == "VERDICT: test verdict from 4 rows (absolute)"


def test_grid_only_runs_exactly_the_matching_cells(workspace, capsys):
    study, notebooks, tmp_path = workspace
    report = grid.run_grid(study, notebooks_dir=notebooks, progress=False, only=["intermediate=none"])
    assert sorted(r[0] for r in _runs(tmp_path)) == ["intermediate__s__none__seed0", "target__s__none__fake-cls__seed0"]
    assert report.total == 2 and report.ok
    report = grid.run_grid(study, notebooks_dir=notebooks, progress=False,
                           only=["kind=intermediate", "intermediate=fake-int", "intermediate=none"])
    assert [r[0] for r in _runs(tmp_path)[2:]] == ["intermediate__s__fake-int__seed0"]  # none's is done already
    assert report.already_done == ["intermediate__s__none__seed0"]

    cells = xw.cells.expand_grid(study)
    with pytest.raises(grid.XWError, match="KEY one of kind, scale, intermediate, target, seed"):
        grid.select_cells(cells, ["size=base"])
    with pytest.raises(grid.XWError, match=r"--only scale=base matches no cell.*scale values are s"):
        grid.select_cells(cells, ["scale=base"])
    with pytest.raises(grid.XWError, match="no cell matches all of these together"):
        grid.select_cells(cells, ["kind=intermediate", "target=fake-cls"])
    assert [c.id for c in grid.select_cells(cells, ["seed=0", "target=fake-cls"])] == [
        "target__s__none__fake-cls__seed0", "target__s__fake-int__fake-cls__seed0"]
    # the CLI: a bad --only is one clear line and nothing runs
    before = len(_runs(tmp_path))
    code = cli.main(["grid", str(study.path), "--output-root", str(study.output_root), "--notebooks", str(notebooks),
                     "--no-progress", "--only", "target=xnli"])
    assert code == 2 and "--only target=xnli matches no cell" in capsys.readouterr().err
    assert len(_runs(tmp_path)) == before


def test_timeout_kills_the_notebook(tmp_path):
    nb = tmp_path / "slow.ipynb"
    _notebook(nb, "x = 1", "import time\ntime.sleep(60)")
    run = execute_notebook(nb, tmp_path / "out" / "slow.ipynb", {}, cwd=tmp_path,
                           kernel_name=ensure_kernel(), start_timeout=60, execution_timeout=2,
                           log=tmp_path / "slow.log")
    assert not run.ok and run.stage == "timeout" and "cell_timeout" in run.error
    assert (tmp_path / "out" / "slow.ipynb").is_file()


def test_ensure_kernel_runs_this_interpreter():
    from jupyter_client.kernelspec import KernelSpecManager

    argv0 = KernelSpecManager().get_kernel_spec(ensure_kernel()).argv[0]
    assert argv0 in ("python", "python3") or Path(argv0).parent == Path(sys.executable).parent


def test_report_is_offline_without_kernels(workspace):
    """Figures from the notebook renderer (CDN MathJax, plotly.js copy) are made offline."""
    import plotly.graph_objects as go
    import plotly.io as pio

    study, _, tmp_path = workspace
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 1], name="offline-trace"))
    bundle = {**pio.renderers["plotly_mimetype"].to_mimebundle(fig.to_dict()),
              **pio.renderers["notebook"].to_mimebundle(fig.to_dict())}
    assert "https://" in bundle["text/html"]  # the renderer itself loads MathJax from a CDN
    plotlyjs = f"<script>window.PlotlyConfig = {{}};</script><script>{get_plotlyjs()}</script>"
    outputs = [nbformat.v4.new_output("display_data", data={"text/html": plotlyjs}),  # renderer activation
               nbformat.v4.new_output("display_data", data={"text/markdown": "VERDICT: fine", **bundle})]
    progress = [nbformat.v4.new_output("stream", name="stderr", text=f"\rtrain: {i}/3") for i in range(4)]
    nb = new_notebook(cells=[new_code_cell("fig", outputs=progress + outputs)], metadata=KERNEL_META)
    path = tmp_path / "analysis.ipynb"
    nbformat.write(nb, path)
    out = export_report(study, [path, path], tmp_path / "report.html")
    page = out.read_text()
    assert external_scripts(page) == [] and "offline-trace" in page and page.count("plotly.js v") == 1
    assert "<details>" in page and "VERDICT: fine" in page
    assert "train: 3/3" in page and "train: 1/3" not in page  # progress bars collapse like a terminal
    # executed cell notebooks drop the renderer's plotly.js copy but keep the figure
    assert drop_plotlyjs_bundles(nb) == 1 and "offline-trace" in json.dumps(nb)


def test_cli_status_and_user_errors(workspace, capsys):
    study, _, tmp_path = workspace
    code = cli.main(["status", str(study.path), "--output-root", str(study.output_root)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "pending 4" in printed and "intermediate__s__none__seed0" in printed
    assert cli.main(["status", str(tmp_path / "missing.yaml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xw: error: ") and "Traceback" not in err and len(err.strip().splitlines()) == 1
    code = cli.main(["run-cell", str(study.path), "--scale", "xl", "--intermediate", "none", "--seed", "0"])
    assert code == 2 and "xl" in capsys.readouterr().err


def test_cli_grid_with_a_relative_output_root(workspace, monkeypatch, capsys):
    """`make demo` runs `xw grid parameters/demo.yaml` with the default, relative ./outputs, while
    each papermill child runs in the notebooks folder: every path must still land under ./outputs."""
    study, notebooks, tmp_path = workspace
    monkeypatch.chdir(tmp_path)
    assert cli.main(["grid", study.path.name, "--notebooks", str(notebooks), "--no-progress"]) == 0
    executed = sorted(p.name for p in (tmp_path / "outputs" / "gridtest" / "notebooks").glob("*.ipynb"))
    assert len(executed) == 5 and "analysis.ipynb" in executed  # 4 cells + the analysis
    assert not list(notebooks.rglob("outputs")), "outputs written relative to the notebooks folder"
    assert "VERDICT: test verdict" in capsys.readouterr().out


def test_mini_scales_are_pretrained_by_their_first_cell_largest_first(tmp_path, monkeypatch):
    """No worker idles while the largest scale pretrains: each mini scale's 'none' cell pretrains it,
    the scale's other intermediate cells wait for that one, and bigger scales are dispatched first."""
    study = two_scale_mini_study(tmp_path)
    cells = xw.cells.expand_grid(study)
    openers = scheduler.pretraining_openers(study, cells)
    assert {scale: cell.id for scale, cell in openers.items()} == {
        "small": "intermediate__small__none__seed0", "big": "intermediate__big__none__seed0"}
    cost = scheduler.scale_cost(study)
    assert cost["big"] > cost["small"]
    # once a scale is pretrained it needs no opener
    pretrained = str(xw.checkpoints.pretrained_source(study, study.scale("small")))
    original = xw.checkpoints.is_complete
    monkeypatch.setattr(xw.checkpoints, "is_complete", lambda path: str(path) == pretrained or original(path))
    assert set(scheduler.pretraining_openers(study, cells)) == {"big"}
