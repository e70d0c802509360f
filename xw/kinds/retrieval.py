"""Bitext retrieval: a kind that is not trained, scored from encoder embeddings by :mod:`xw.retrieval`.

Why: retrieval has no head and no featurisation; its object says so (the :class:`ModelKind`
defaults refuse both with a clear error), so callers ask ``trained`` instead of checking the name.
"""

from __future__ import annotations

from xw.kinds.base import ModelKind
from xw.tasks.kinds import Retrieval


class RetrievalModel(ModelKind, Retrieval):
    """No head, no features, no fine-tuning: see :func:`xw.retrieval.evaluate_retrieval`."""
