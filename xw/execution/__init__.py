"""Executing notebooks: each notebook run by papermill in a child process, watched from here.

Why a child process per notebook rather than threads or one ProcessPoolExecutor: papermill's
``cwd`` is a process-wide chdir (papermill issue 473); a kernel killed for memory can hang its
executor (issue 125), and a process pool breaks as a whole when one worker dies; kernels
started by many processes at once can miss the start timeout (issues 478, 776). So every
notebook runs in ``python -m xw.execution.child <spec>``, which the parent can time out and kill
together with its kernel; kernel starts are staggered, and a start that times out is retried. The
threads of a local grid only wait on those children. A warm worker
(``python -m xw.execution.child --serve``) keeps one kernel alive across cells instead.

- ``kernel``: the Jupyter kernelspec that runs this interpreter;
- ``notebook``: the parent's side: :func:`execute_notebook`, warm workers, killing children;
- ``child``: the child's side (papermill itself), the ``python -m`` entry point;
- ``cell``: one grid cell's notebook, as a local worker and a Slurm job both run it.

Nothing here knows about executors (xw.executors) or the grid (xw.grid).
"""
