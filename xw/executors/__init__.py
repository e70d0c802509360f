"""Where a grid's cells run: the executors (``local``, ``slurm``) behind one interface, in one registry.

``xw.executors.base`` defines the interface (Executor, GridRun, GridReport) and the registry;
importing this package registers the two built-in executors there. xw.grid picks the study's
(``executor.kind`` or ``--executor``) and hands it the run; executors never import xw.grid.
"""

from xw.executors import local, slurm
from xw.executors.base import REGISTRY

REGISTRY.register(local.LocalExecutor())
REGISTRY.register(slurm.SlurmExecutor())
