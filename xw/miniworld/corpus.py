"""The multilingual MLM pretraining corpus of the mini-world.

Why: the stand-in for CommonCrawl. Documents are monolingual (no parallel data), balanced over the
languages, made of declaratives and questions so every construction the tasks use is seen. A small
fraction of non-English documents is code-switched (word-level substitution of content stems by
their English stems, host suffixes kept): a stand-in for the loanwords, shared entities and
code-mixing that give real multilingual corpora their cross-lingual alignment signal.
"""

from __future__ import annotations

import random
from dataclasses import replace
from functools import lru_cache

from xw.miniworld.concepts import VERBS
from xw.miniworld.grammar import Word
from xw.miniworld.meanings import reduce_clause
from xw.miniworld.profiles import LANGUAGES
from xw.miniworld.world import get_world


def _meanings(world, rng: random.Random, n_sentences: int) -> list[tuple[list, str | None]]:
    """(clauses, question slot or None) per sentence of one coherent document.

    Documents keep coming back to a few facts (restated, shortened, asked about, continued with
    the same participants), as real text does; that repetition is what teaches a masked LM to look
    back and match words across sentences, which pair classification and QA rely on.
    """
    facts = [world.sample_clause(rng) for _ in range(rng.randint(1, 2))]
    out: list[tuple[list, str | None]] = []
    for _ in range(n_sentences):
        fact = rng.choice(facts)
        r = rng.random()
        if r < 0.25:
            out.append(([fact], None))
        elif r < 0.45:
            out.append(([reduce_clause(fact, rng)], None))
        elif r < 0.65:
            c = replace(fact, negated=False)
            slots = ["s"] + (["o"] if c.obj else []) + (["l"] if c.place else [])
            out.append(([c], rng.choice(slots)))
        elif r < 0.8:  # the same participant does something else
            new = world.sample_clause(rng)
            if fact.subject.semantic_class in VERBS[new.verb][0]:
                new = replace(new, subject=fact.subject)
            facts.append(new)
            out.append(([new], None))
        else:
            new = world.sample_clause(rng)
            facts.append(new)
            out.append(([new, rng.choice(facts)] if rng.random() < 0.3 else [new], None))
    return out


def _render(world, lang: str, meanings, switch=None) -> str:
    words: list[Word] = []
    for clauses, question in meanings:
        words += world.render(lang, clauses, question=question, switch=switch)
    return " ".join(w.text for w in words)


@lru_cache(maxsize=4)
def pretraining_corpus(
    world_seed: int,
    n_docs: int,
    *,
    seed: int = 0,
    code_switch: float = 0.3,
    switch_rate: float = 0.5,
    parallel: float = 0.1,
    max_sentences: int = 5,
) -> tuple[str, ...]:
    """``n_docs`` documents of 1..``max_sentences`` sentences, round-robin over the languages.

    ``code_switch`` is the fraction of non-English documents rendered with ``switch_rate`` of their
    content stems in English. ``parallel`` is the fraction of non-English documents that are
    bilingual (the document followed by its English translation, like a translated web page). Both
    0 gives a corpus whose only cross-lingual signal is shared names, digits and punctuation.
    """
    world = get_world(world_seed)
    rng = random.Random(f"xw-corpus:{world_seed}:{seed}")
    docs = []
    for i in range(n_docs):
        lang = LANGUAGES[i % len(LANGUAGES)]
        draw = rng.random()
        if lang != "en" and draw < parallel:
            meanings = _meanings(world, rng, rng.randint(1, max(1, max_sentences // 2)))
            pair = [_render(world, lang, meanings), _render(world, "en", meanings)]
            rng.shuffle(pair)
            docs.append(" ".join(pair))
            continue
        switch = (rng, switch_rate) if lang != "en" and draw < parallel + code_switch else None
        docs.append(_render(world, lang, _meanings(world, rng, rng.randint(1, max_sentences)), switch))
    return tuple(docs)
