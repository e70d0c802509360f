"""A deterministic synthetic multilingual world: one meaning space, six ways to say it.

Why: the real XTREME study needs GPUs and the hub; this world lets the whole pipeline (pretraining
a size ladder, intermediate training, zero-shot transfer) run on a laptop CPU in minutes, with
controlled differences between languages instead of uncontrolled ones.

``en`` is an English-like language. The other five are derived from the same meanings with their
own script (a disjoint token range), their own generated lexicon (``xl`` shares 40% of its content
words with English, like cognates), a word order (SVO / SOV / VSO), adjective and adposition
placement, and suffix morphology (plural, accusative case, verb agreement, a definite suffix) that
the WordPiece tokenizer splits off as ``##`` sub-tokens. Named entities, digits and punctuation are
shared by all languages, as in real text. Everything is a pure function of the world seed.

The parts live in :mod:`~xw.miniworld.concepts` (what can be said), :mod:`~xw.miniworld.profiles`
(how the languages differ), :mod:`~xw.miniworld.lexicon` (their drawn words),
:mod:`~xw.miniworld.meanings` (noun phrases and clauses) and :mod:`~xw.miniworld.grammar`
(rendering); this module ties them into one :class:`World` per seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from functools import lru_cache

from xw.miniworld import grammar
from xw.miniworld.concepts import (
    ADJECTIVES,
    INTRANSITIVE,
    LOC_NAMES,
    NOUN_CLASSES,
    ORG_HEADS,
    ORG_TAILS,
    PER_FIRST,
    PER_LAST,
    PREPOSITIONS,
    TRANSITIVE,
    VERBS,
)
from xw.miniworld.grammar import Switch, Word
from xw.miniworld.lexicon import Language, draw_languages, greedy_wordpiece, token_inventory
from xw.miniworld.meanings import NP, Clause


class World:
    """All languages of one seed, with samplers for meanings and renderers for sentences."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        rng = random.Random(f"xw-miniworld:{seed}")
        self.languages: dict[str, Language] = draw_languages(rng)
        self.persons: tuple[str, ...] = tuple(
            [*PER_FIRST] + [f"{f} {last}" for f in PER_FIRST[:12] for last in rng.sample(PER_LAST, 2)]
        )
        self.places: tuple[str, ...] = LOC_NAMES
        self.orgs: tuple[str, ...] = tuple([*ORG_HEADS] + [f"{h} {rng.choice(ORG_TAILS)}" for h in ORG_HEADS])
        # a quarter of the entities never occur in NER training data (they do in pretraining)
        rare: set[str] = set()
        for names in (PER_FIRST, LOC_NAMES, ORG_HEADS):
            rare.update(rng.sample(list(names), len(names) // 4))
        self.rare_names = frozenset(rare)
        self._sets: tuple[frozenset[str], frozenset[str]] | None = None

    # ---- sampling meanings -------------------------------------------------------------------

    def entity_pool(self, etype: str, exclude_rare: bool = False) -> tuple[str, ...]:
        pool = {"PER": self.persons, "LOC": self.places, "ORG": self.orgs}[etype]
        if exclude_rare:
            pool = tuple(e for e in pool if e.split()[0] not in self.rare_names)
        return pool

    def sample_np(
        self,
        rng: random.Random,
        cls: str,
        *,
        name_prob: float = 0.3,
        exclude_rare: bool = False,
        modifiers: bool = True,
    ) -> NP:
        """Draw a noun phrase of semantic class ``cls`` (person/animal/.../org)."""
        if cls == "org" or (cls == "person" and rng.random() < name_prob):
            etype = "ORG" if cls == "org" else "PER"
            return NP("name", rng.choice(self.entity_pool(etype, exclude_rare)), etype)
        noun = rng.choice(NOUN_CLASSES[cls])
        plural = rng.random() < 0.25
        definite = rng.random() < 0.6
        numeral = rng.randint(2, 9) if plural and not definite and rng.random() < 0.5 else None
        adjective = None
        if modifiers and rng.random() < 0.35:
            adjective = rng.choice([a for a, classes in ADJECTIVES.items() if cls in classes])
        return NP("noun", noun, cls, plural, definite, adjective, numeral)

    def sample_place(
        self, rng: random.Random, *, name_prob: float = 0.5, exclude_rare: bool = False
    ) -> tuple[str, NP]:
        prep = rng.choice(tuple(PREPOSITIONS))
        etype, _ = PREPOSITIONS[prep]
        if rng.random() < name_prob:
            return prep, NP("name", rng.choice(self.entity_pool(etype, exclude_rare)), etype)
        return prep, self.sample_np(rng, "place")

    def sample_clause(
        self,
        rng: random.Random,
        *,
        transitive: float = 0.8,
        place_prob: float = 0.4,
        neg_prob: float = 0.2,
        name_prob: float = 0.3,
        exclude_rare: bool = False,
        verb: str | None = None,
    ) -> Clause:
        """Draw a well-typed clause (selectional restrictions respected)."""
        if verb is None:
            verb = rng.choice(TRANSITIVE if rng.random() < transitive else INTRANSITIVE)
        subj_classes, obj_classes = VERBS[verb]
        subject = self.sample_np(
            rng, rng.choice(subj_classes), name_prob=name_prob, exclude_rare=exclude_rare
        )
        obj = None
        if obj_classes:
            obj = self.sample_np(rng, rng.choice(obj_classes), name_prob=name_prob, exclude_rare=exclude_rare)
        prep = place = None
        if rng.random() < place_prob:
            prep, place = self.sample_place(rng, name_prob=max(name_prob, 0.4), exclude_rare=exclude_rare)
        return Clause(subject, verb, obj, prep, place, rng.random() < neg_prob)

    # ---- rendering (xw.miniworld.grammar) ------------------------------------------------------

    def render(
        self,
        lang: str,
        clauses: Sequence[Clause],
        *,
        question: str | None = None,
        switch: Switch | None = None,
    ) -> list[Word]:
        """Render a sentence in ``lang``; see :func:`xw.miniworld.grammar.render`."""
        return grammar.render(self.languages[lang], clauses, question=question, switch=switch)

    def render_np(self, lang: str, np: NP, *, accusative: bool = False) -> list[Word]:
        """Render one noun phrase on its own (e.g. answer choices)."""
        return grammar.render_np(self.languages[lang], np, accusative=accusative)

    # ---- vocabulary (xw.miniworld.lexicon) ----------------------------------------------------

    def token_inventory(self) -> tuple[list[str], list[str]]:
        """(word-initial tokens, continuation tokens without ##), grouped by language, then shared.

        Each language's stems form one contiguous id range (its "script"); named entities, digits and
        punctuation are shared; Latin letters are a fallback for typed-in English-like text.
        """
        return token_inventory(self.languages)

    def segment(self, word: str) -> list[str]:
        """Greedy longest-match WordPiece over this world's inventory (mirrors the real tokenizer)."""
        if self._sets is None:
            self._sets = tuple(frozenset(x) for x in self.token_inventory())
        return greedy_wordpiece(word, *self._sets)


@lru_cache(maxsize=8)
def get_world(seed: int = 0) -> World:
    """The world for ``seed``, built once per process."""
    return World(seed)
