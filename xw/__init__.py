"""xw: does model scale amplify or diminish English intermediate-task gains on XTREME?

The package in layers, top first; a module imports only from layers below it (pyproject.toml's
import-linter contracts, checked by ``make test``; the README's Layout table says what each module does):

- entry: ``cli``, ``analysis/`` (what the analysis notebook calls)
- grid: ``grid`` (plan, lock, finish), ``plan`` (``xw plan``)
- executors: ``executors/`` (``local``, ``slurm`` behind one interface and registry)
- notebook execution: ``execution/`` (papermill children, warm kernels), then ``report`` (HTML)
- ledger: ``ledger`` (cell states, failure records, markers), ``scheduler`` (pure order and dependencies)
- cells: ``cells`` (the grid's cells), ``study`` (loading a study file against the task registry)
- phases: ``phases`` (phases i-iii of one cell)
- kernels: ``evaluate``, ``retrieval``, ``pretrain``, ``data``, ``train``, ``models``, ``featurize``,
  ``kinds/`` (the model side of each task kind), ``metrics``
- tasks: ``miniworld/``, ``xtreme/`` (the built-in tasks), ``tasks/`` (registry, data side of the kinds)
- storage: ``results``, ``checkpoints``, ``layout`` (every output path), ``slurm_queue``
- parameters and base: ``params`` (``Study``), ``validate``, ``lock``, ``atomic``, ``errors``
"""

__version__ = "0.1.0"
