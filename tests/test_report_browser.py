"""The report as a reader sees it: built from a simulated study, opened in headless Chromium.

notebooks/analysis.ipynb runs under papermill on a simulated results.csv (XTREME targets, the XLM-R
ladder, a few failed runs), xw.report.export_report writes the page, and Debian's Chromium, driven
by chromedriver through selenium, loads it with every network name unresolvable. The page must draw
every figure of the notebook, log no console error, request nothing from the network, put the summary
(the verdict) above the figures and hide the code. A full-page screenshot and one of the first screen
are saved to the test's tmp dir and, when XW_SCREENSHOT_DIR is set, there too.
A second, small report (three trained cells' curves, one diverged) checks the Training curves section
the same way and saves report-curves.png.

Needs ``selenium`` (the dev extra) and /usr/bin/chromium + /usr/bin/chromedriver (Debian's chromium and
chromium-driver; .ci/setup-browser.sh installs them); skips with the reason when any is missing.
XW_CHROMIUM / XW_CHROMEDRIVER point elsewhere. No browser is ever downloaded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLOTLY_MIME = "application/vnd.plotly.v1+json"
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,1000",
                  # offline check: any host name the page asks for fails (file:// is unaffected)
                  "--host-resolver-rules=MAP * ~NOTFOUND")

pytestmark = pytest.mark.slow


def _executable(env: str, default: str, names: tuple[str, ...]) -> str | None:
    for candidate in (os.environ.get(env), default, *(shutil.which(n) for n in names)):
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _browser() -> tuple[str, str]:
    """(chromium, chromedriver), or skip saying what to install."""
    pytest.importorskip("selenium", reason="selenium is not installed: pip install -e '.[dev]'")
    chromium = _executable("XW_CHROMIUM", "/usr/bin/chromium", ("chromium", "chromium-browser"))
    driver = _executable("XW_CHROMEDRIVER", "/usr/bin/chromedriver", ("chromedriver",))
    missing = [pkg for pkg, path in (("chromium", chromium), ("chromium-driver", driver)) if path is None]
    if missing:
        pytest.skip(f"headless browser not available ({', '.join(missing)} missing): run .ci/setup-browser.sh "
                    f"or apt-get install -y {' '.join(missing)}")
    return chromium, driver  # type: ignore[return-value]


def _simulated_study(tmp: Path):
    """A simulated results.csv with a known slope, and the Study it belongs to (with failure records for
    the runs the simulation dropped, as the grid writes them)."""
    from xw.analysis.simulate import LANGUAGES, Grid, Truth, simulate_results
    from xw.cells import Cell
    from xw.layout import failed_dir
    from xw.study import study_from_dict

    grid = Grid(intermediates=("mnli", "squad", "hellaswag"), languages=LANGUAGES[:6], seeds=(0, 1, 2))
    results = simulate_results(grid, Truth(slope=0.4), seed=3, study="browser", fail_rate=0.01)
    results_path = tmp / "results.csv"
    results.to_csv(results_path, index=False)
    raw = {"study": "browser", "description": "Simulated results (true slope +0.4 points per doubling).",
           "models": {"ladder": [{"name": name, "hub": f"simulated/{name}"} for name, _ in grid.scales]},
           "intermediate_tasks": ["none", *grid.intermediates], "target_tasks": [t[0] for t in grid.targets],
           "seeds": list(grid.seeds)}
    study = study_from_dict(raw, tmp / "browser.yaml", tmp / "outputs")
    present = results.groupby(["scale", "intermediate_task", "target_task", "seed"]).size()
    failed = failed_dir(study)
    failed.mkdir(parents=True)
    for scale, _ in grid.scales:
        for inter in ("none", *grid.intermediates):
            for target, _, _ in grid.targets:
                for seed in grid.seeds:
                    if (scale, inter, target, seed) not in present.index:
                        cell = Cell("target", scale, inter, seed, target)
                        (failed / f"{cell.id}.json").write_text(json.dumps(
                            {"cell": cell.id, "error": "RuntimeError: simulated failure", "stage": "execution",
                             "skipped": False}))
    return study, results_path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(report path, executed analysis notebook, number of figures in it, seconds to build)."""
    _browser()
    import nbformat
    import papermill

    from xw.execution.kernel import ensure_kernel
    from xw.report import export_report

    tmp = tmp_path_factory.mktemp("report-browser")
    start = time.perf_counter()
    study, results_path = _simulated_study(tmp)
    executed = study.output_dir / "notebooks" / "analysis.ipynb"
    executed.parent.mkdir(parents=True)
    papermill.execute_notebook(str(ROOT / "notebooks" / "analysis.ipynb"), str(executed),
                               parameters={"results_path": str(results_path), "gain_measure": "absolute",
                                           "n_boot": 100},
                               kernel_name=ensure_kernel(), cwd=str(ROOT / "notebooks"), start_timeout=120,
                               execution_timeout=300, progress_bar=False)
    nb = nbformat.read(executed, as_version=4)
    figures = sum(PLOTLY_MIME in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                  for o in c.get("outputs", []))
    report = export_report(study, [executed], study.output_dir / "report.html")
    return report, executed, figures, time.perf_counter() - start


@contextlib.contextmanager
def _opened(report: Path, figures: int):
    """Chromium with ``report`` loaded and (at least) ``figures`` plotly figures drawn."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, chromedriver = _browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    profile = tempfile.mkdtemp(prefix="xw-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(report.resolve().as_uri())
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(
            "return document.readyState === 'complete' && "
            "Array.from(document.querySelectorAll('.js-plotly-plot'))"
            "  .filter(p => p.querySelector('.main-svg') && p._fullLayout).length") >= figures)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(built):
    """Chromium with the report loaded and every plotly figure drawn."""
    report, _, figures, _ = built
    with _opened(report, figures) as driver:
        yield driver


def test_every_figure_renders(built, browser):
    _, _, figures, _ = built
    assert figures >= 5, "the analysis notebook shows at least five figures"
    plots = browser.execute_script("""
        return Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => {
          const r = p.getBoundingClientRect();
          return {svgs: p.querySelectorAll('.main-svg').length, traces: (p._fullData || []).length,
                  drawn: p.querySelectorAll('.scatterlayer .trace, .heatmaplayer .hm, .imagelayer image').length,
                  width: r.width, height: r.height,
                  title: ((p._fullLayout || {}).title || {}).text || ''};
        });""")
    assert len(plots) == figures, plots
    assert browser.execute_script("return document.querySelectorAll('.main-svg').length") >= figures
    for plot in plots:
        assert plot["svgs"] >= 1 and plot["traces"] >= 1 and plot["drawn"] >= 1, plot
        assert plot["width"] > 400 and plot["height"] > 250, f"figure drawn too small to read: {plot}"
        assert plot["width"] <= 1300, f"figure wider than the page: {plot}"


def test_no_console_errors_and_nothing_from_the_network(browser):
    logs = browser.get_log("browser")
    errors = [e for e in logs if e.get("level") == "SEVERE"]
    assert not errors, errors
    requested = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('file:'))")
    assert requested == [], requested


def test_summary_comes_first_and_reads_as_the_verdict(built, browser):
    from xw.ledger import find_verdict

    _, executed, _, _ = built
    line = find_verdict(executed)
    assert line and line.startswith("VERDICT: ")
    word = line[len("VERDICT: "):].split(" | ")[0]
    page = browser.execute_script("""
        const s = document.querySelector('.xw-summary'), f = document.querySelector('.js-plotly-plot');
        const h1 = document.querySelector('h1');
        return {verdict: s && s.dataset.verdict, text: s ? s.innerText : '',
                summaryTop: s ? s.getBoundingClientRect().top : -1, figureTop: f.getBoundingClientRect().top,
                h1: h1 ? h1.innerText : '', code: document.querySelectorAll('.xw-answer .jp-InputArea-editor').length,
                tocLinks: Array.from(document.querySelectorAll('.xw-toc a')).map(a => a.getAttribute('href')),
                tables: document.querySelectorAll('table.xw-table').length,
                gridCells: !!document.getElementById('grid-cells')};""")
    assert page["verdict"] == word
    assert 0 <= page["summaryTop"] < page["figureTop"] < 3000, "the summary sits above the figures, near the top"
    assert "amplify or diminish" in page["h1"]
    for label in ("Effect size", "95% CI", "In plain words", "per doubling"):
        assert label in page["text"], label
    assert page["code"] == 0, "the report hides the analysis code"
    assert page["tables"] >= 5 and page["gridCells"]
    assert len(page["tocLinks"]) >= 4
    missing = [h for h in page["tocLinks"] if not browser.execute_script(
        "return !!document.getElementById(arguments[0])", h.lstrip("#"))]
    assert not missing, missing
    text = browser.execute_script("return document.body.innerText")
    for heading in ("Per-target slopes", "Verdict under the three gain measures", "Bootstrap confidence interval",
                    "Compute-equivalent gain", "Dropped pairs and failed cells", "Grid cells"):
        assert heading in text, heading
    assert "VERDICT: " not in text, "the grep-able line is for xw grid; the page shows the summary card instead"


def test_screenshot(built, browser, tmp_path_factory):
    report, _, _, seconds = built
    shots = {"report-top.png": base64.b64decode(browser.get_screenshot_as_base64())}
    metrics = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})
    size = metrics.get("cssContentSize") or metrics["contentSize"]
    full = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
    shots["report-full.png"] = base64.b64decode(full["data"])
    targets = [report.parent]
    if os.environ.get("XW_SCREENSHOT_DIR"):
        targets.append(Path(os.environ["XW_SCREENSHOT_DIR"]))
    for folder in targets:
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in shots.items():
            assert data.startswith(b"\x89PNG") and len(data) > 10_000
            (folder / name).write_bytes(data)
    print(f"report built in {seconds:.1f} s; screenshots in {', '.join(map(str, targets))}")


def test_the_training_curves_panel_draws_every_trained_cell_and_marks_the_diverged_one(tmp_path):
    """The report's Training curves section (xw.curve_panel) in Chromium: one small plot per trained cell, the
    diverged one tinted red, a link per cell that opens its curves folder; screenshot report-curves.png."""
    _browser()
    import fake_tasks

    from xw.layout import report_path, target_curves
    from xw.report import export_report
    from xw.study import study_from_dict
    from xw.tracking import CurveWriter
    from xw.train import StepLog

    raw = {**fake_tasks.study_dict({}, name="curves"), "models": {"ladder": [{"name": "s", "hub": "fake/model"}]}}
    study = study_from_dict(raw, tmp_path / "curves.yaml", tmp_path / "outputs")
    trained = {("none", "fake-colour-x"): [2.0, 1.2, 0.8, 0.6], ("fake-colour", "fake-colour-x"): [1.0, 0.7, 0.5],
               ("none", "fake-nouns-x"): [1.0, 1.6, 2.4, 3.0]}  # the last one diverged
    for (inter, target), losses in trained.items():
        writer = CurveWriter(target_curves(study, "s", inter, target, 0), tag="target")
        for step, loss in enumerate(losses, start=1):
            writer(StepLog(step=step, loss=loss, grad_norm=0.1, learning_rate=1e-3, tokens=8, seconds=0.01))
        writer.close()
    report = export_report(study, [], report_path(study))
    with _opened(report, 1) as driver:
        page = driver.execute_script("""
            const s = document.querySelector('.xw-curves'), p = s.querySelector('.js-plotly-plot');
            return {traces: p._fullData.length, drawn: p.querySelectorAll('.scatterlayer .trace').length,
                    red: p._fullData.filter(t => t.line.color === '#d62728').map(t => t.name),
                    tinted: (p._fullLayout.shapes || []).length, width: p.getBoundingClientRect().width,
                    links: Array.from(s.querySelectorAll('a.xw-curves-link')).map(a => a.href),
                    marked: Array.from(s.querySelectorAll('td.xw-diverged')).length,
                    toc: Array.from(document.querySelectorAll('.xw-toc a')).map(a => a.getAttribute('href'))};""")
        assert page["traces"] == page["drawn"] == 3 and 400 < page["width"] <= 1300
        assert page["red"] == ["s/none/fake-nouns-x/seed0"] and page["tinted"] == 1 and page["marked"] == 1
        assert sorted(Path(link.removeprefix("file://")) for link in page["links"]) == sorted(
            target_curves(study, "s", inter, target, 0).resolve() for inter, target in trained)
        assert "#training-curves" in page["toc"]
        assert not [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
        shot = driver.find_element("css selector", ".xw-curves").screenshot_as_png
    assert shot.startswith(b"\x89PNG") and len(shot) > 10_000
    for folder in [report.parent] + ([Path(os.environ["XW_SCREENSHOT_DIR"])] if os.environ.get("XW_SCREENSHOT_DIR")
                                     else []):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "report-curves.png").write_bytes(shot)
