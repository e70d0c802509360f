"""The Jupyter kernel the notebooks run in: one that runs this interpreter, where xw is installed."""

from __future__ import annotations

import os
import sys
from pathlib import Path


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
