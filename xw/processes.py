"""Ending a process together with every descendant, whatever session each runs in.

Why: a Jupyter kernel and torchrun's ranks run in sessions of their own, so ``killpg`` of a parent
misses them; walking the process tree (psutil) reaches every one, and nothing is left holding a GPU.
"""

from __future__ import annotations

import psutil


def kill_tree(pid: int, grace_s: float = 10.0) -> None:
    """TERM the process and its descendants, wait up to ``grace_s``, then KILL what is left (0: KILL at once)."""
    try:
        root = psutil.Process(pid)
        procs = [*root.children(recursive=True), root]
    except psutil.NoSuchProcess:
        return
    alive = procs
    if grace_s > 0:
        for proc in procs:
            try:
                proc.terminate()
            except psutil.NoSuchProcess:
                pass
        _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=max(grace_s, 5.0))
