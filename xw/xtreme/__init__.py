"""Real XTREME targets and English intermediate tasks (Phang et al. 2020) as registered TaskSpecs.

Why: real benchmark data comes from two places (files on disk, the Hugging Face hub) in many
formats; this package turns both into the canonical schemas of :mod:`xw.tasks.kinds`.

- :mod:`xw.xtreme.tasks`: one :func:`~xw.xtreme.tasks.define` per task (spec, local reader, hub source, hint)
- :mod:`xw.xtreme.local_targets` / :mod:`xw.xtreme.local_intermediate`: per-task local loading
- :mod:`xw.xtreme.readers`: file-format parsers; :mod:`xw.xtreme.files`: paths and the missing-data error
- :mod:`xw.xtreme.hub`: hub sources per task; :mod:`xw.xtreme.hub_mappings`: hub -> canonical columns
- :mod:`xw.xtreme.canonical`: label sets and row builders shared by both; :mod:`xw.xtreme.languages`
"""
