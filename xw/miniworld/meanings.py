"""Meanings: language-independent noun phrases and clauses, and the operations on them.

Why: every task example is a meaning first and a sentence second, so dev/test sets are parallel
across languages and labels (entailment, answer spans) are decided on meanings, not on text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

from xw.miniworld.concepts import ANIMATE


@dataclass(frozen=True)
class NP:
    """A noun phrase meaning: a common noun (with number, definiteness, modifiers), a name, or a wh-word."""

    kind: str  # "noun" | "name" | "wh"
    head: str  # noun concept, entity text ("Anna Berg"), or wh concept ("who"/"what")
    cls: str  # noun class, or PER/LOC/ORG for names
    plural: bool = False
    definite: bool = True
    adjective: str | None = None
    numeral: int | None = None

    @property
    def animate(self) -> bool:
        return self.cls in ANIMATE or self.cls in ("PER", "ORG")

    @property
    def semantic_class(self) -> str:
        return {"PER": "person", "ORG": "org", "LOC": "place"}.get(self.cls, self.cls)


@dataclass(frozen=True)
class Clause:
    """One predication: subject, verb, optional object and location, polarity."""

    subject: NP
    verb: str
    obj: NP | None = None
    prep: str | None = None
    place: NP | None = None
    negated: bool = False


def reduce_clause(clause: Clause, rng: random.Random, drop: float = 0.5) -> Clause:
    """Drop optional modifiers (adjectives, place): the result is entailed by ``clause``."""

    def strip(np: NP | None) -> NP | None:
        if np is None or np.kind != "noun" or np.adjective is None or rng.random() >= drop:
            return np
        return replace(np, adjective=None)

    out = replace(clause, subject=strip(clause.subject), obj=strip(clause.obj))
    if out.place is not None and rng.random() < drop:
        out = replace(out, prep=None, place=None)
    return out
