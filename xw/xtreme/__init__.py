"""Real XTREME targets and English intermediate tasks (Phang et al. 2020) as registered TaskSpecs.

``xw.xtreme.tasks`` registers them; ``xw.xtreme.local`` reads the files on disk (XTREME's
``download/<task>/`` layout and the intermediate tasks' official formats); ``xw.xtreme.hub``
maps Hugging Face hub datasets to the canonical schemas of :mod:`xw.tasks.base`.
"""
