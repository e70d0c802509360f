"""Progress bars inside an executed notebook: a few plain-text redraws, no "IProgress not found" flood."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
import pytest

from xw.errors import XWError
from xw.execution.kernel import ensure_kernel
from xw.progress import tqdm

LOOP = """
import time
from xw.progress import tqdm
for _ in tqdm(range(40), desc="steps"):
    time.sleep(0.01)
for _ in tqdm(range(40), desc="more"):
    time.sleep(0.01)
"""


def _stderr_outputs(nb_path: Path) -> list[str]:
    nb = nbformat.read(nb_path, as_version=4)
    return [o["text"] for c in nb.cells for o in c.get("outputs", [])
            if o.get("output_type") == "stream" and o.get("name") == "stderr"]


@pytest.mark.slow
def test_papermill_bars_are_plain_text_and_few(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import papermill as pm

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(LOOP)]
    src, out = tmp_path / "bars.ipynb", tmp_path / "bars.out.ipynb"
    nbformat.write(nb, src)
    monkeypatch.setenv("XW_PROGRESS", "text")  # what the grid's children get (xw.execution.cell.child_env)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(Path(__file__).resolve().parents[1]), *sys.path]))
    pm.execute_notebook(str(src), str(out), kernel_name=ensure_kernel(), progress_bar=False, cwd=str(tmp_path))
    texts = _stderr_outputs(out)
    joined = "".join(texts)
    assert "IProgress" not in joined
    assert "steps" in joined and "100%" in joined  # the bar is there, as text
    assert len(texts) <= 6, texts  # per bar: its first and last draw and a newline, no redraw per step


def test_child_env_asks_for_text_bars() -> None:
    from xw.execution.cell import child_env

    assert child_env(2)["XW_PROGRESS"] == "text"


def test_bad_choice_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XW_PROGRESS", "fancy")
    with pytest.raises(XWError, match="XW_PROGRESS='fancy'"):
        tqdm(range(3))


def test_terminal_bar_is_plain_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    from tqdm.std import tqdm as text_tqdm

    monkeypatch.delenv("XW_PROGRESS", raising=False)
    bar = tqdm(range(3), disable=True)
    assert type(bar) is text_tqdm
