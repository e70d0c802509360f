"""Label sets shared by more than one task family, defined once.

Why: the three-way NLI order is the integer order of GLUE MNLI, SNLI, ANLI and XNLI, and mini-nli
mirrors it; one definition keeps every NLI head and loader agreeing on what label 0 means.
"""

from __future__ import annotations

NLI_LABELS: tuple[str, ...] = ("entailment", "neutral", "contradiction")  # = glue/anli/snli/xnli int order

__all__ = ["NLI_LABELS"]
