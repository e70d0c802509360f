"""One choice of progress bar for all of xw: widgets in JupyterLab, plain text everywhere else.

Why: ``tqdm.auto`` inside a papermill kernel (every cell notebook of ``xw grid``) either warns
"IProgress not found" once per bar or draws widgets nobody sees, which flooded the executed notebooks
with stderr outputs. The grid's children set ``XW_PROGRESS=text`` (xw.execution.cell.child_env): there
bars are plain text, redrawn at most every ``TEXT_INTERVAL`` seconds. In a JupyterLab kernel with
ipywidgets installed they are widgets; in a terminal, tqdm's usual text bar.
"""

from __future__ import annotations

import os
import sys
from typing import Any

ENV = "XW_PROGRESS"
TEXT_INTERVAL = 10.0  # seconds between redraws of a bar that lands in an executed notebook


def _in_notebook_kernel() -> bool:
    shell = sys.modules.get("IPython")
    get = getattr(shell, "get_ipython", None)
    return bool(get and get() is not None and type(get()).__name__ == "ZMQInteractiveShell")


def _widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def _choice() -> str:
    choice = os.environ.get(ENV, "auto").strip().lower()
    if choice not in ("auto", "text", "widgets"):
        from xw.errors import XWError

        raise XWError(f"{ENV}={choice!r} is not a progress choice; use auto, text or widgets")
    return choice


def tqdm(*args: Any, **kwargs: Any) -> Any:
    """A progress bar chosen as the module docstring says, with tqdm's own arguments (a drop-in for
    ``tqdm.auto.tqdm``)."""
    choice, in_kernel = _choice(), _in_notebook_kernel()
    if choice == "widgets" or (choice == "auto" and in_kernel and _widgets_available()):
        from tqdm.notebook import tqdm as widget_tqdm

        return widget_tqdm(*args, **kwargs)
    from tqdm.std import tqdm as text_tqdm

    if in_kernel:  # papermill, or a kernel without ipywidgets: a few ASCII redraws, no IProgress warning
        kwargs = {"ascii": True, "maxinterval": TEXT_INTERVAL * 6, **kwargs,
                  "mininterval": max(kwargs.get("mininterval", 0.0), TEXT_INTERVAL)}
    return text_tqdm(*args, **kwargs)
