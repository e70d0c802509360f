"""Clause grammar: how each language renders a meaning as annotated words.

Why: the languages differ only through their profile (order, adpositions, articles, suffixes,
wh-movement) and their lexicon, so one renderer driven by both produces parallel sentences with
gold POS/NER tags and constituent slots (QA spans, checks) in every language.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from xw.miniworld.concepts import PARTICLE, SWITCHABLE
from xw.miniworld.lexicon import Language
from xw.miniworld.meanings import NP, Clause
from xw.miniworld.profiles import LanguageProfile

Switch = tuple[random.Random, float]  # code-switching: (rng, per-word rate of English words)


@dataclass(frozen=True)
class Word:
    """A rendered whitespace word with its gold annotations (for tagging, QA spans and checks)."""

    pieces: tuple[str, ...]  # stem then suffixes: the intended WordPiece segmentation (without ##)
    pos: str
    ner: str = "O"
    slot: str = ""  # which constituent: s / o / l (place NP) / lp (adposition) / v / neg / q / ...
    clause: int = 0

    @property
    def text(self) -> str:
        return "".join(self.pieces)


def render(
    lx: Language,
    clauses: Sequence[Clause],
    *,
    question: str | None = None,
    switch: Switch | None = None,
) -> list[Word]:
    """Render a sentence (clauses joined by 'and'), or a wh-question about slot s/o/l of clause 0.

    ``switch=(rng, rate)`` code-switches: each word (content stem or function word) is replaced
    by its English counterpart with probability ``rate`` (host-language suffixes and word order
    kept), a stand-in for the alignment signal that real multilingual corpora contain.
    """
    words: list[Word] = []
    for i, clause in enumerate(clauses):
        if i:
            words.append(Word((_stem(lx, "and", switch),), "CCONJ", slot="conj", clause=i))
        q = question if i == 0 else None
        words.extend(_clause(lx, clause, i, q, switch))
    if question and lx.profile.wh_in_situ:
        words.append(Word((lx.words[PARTICLE],), "PART", slot="q"))
    words.append(Word(("?" if question else ".",), "PUNCT", slot="punct", clause=len(clauses) - 1))
    return words


def render_np(lx: Language, np: NP, *, accusative: bool = False) -> list[Word]:
    """Render one noun phrase on its own (e.g. answer choices)."""
    return _np(lx, np, "np", 0, accusative, None)


def _stem(lx: Language, concept: str, switch: Switch | None) -> str:
    if switch is not None and concept in SWITCHABLE and switch[0].random() < switch[1]:
        return concept
    return lx.words[concept]


def _np(lx: Language, np: NP, slot: str, ci: int, accusative: bool, switch: Switch | None) -> list[Word]:
    p = lx.profile
    acc = [lx.suffixes["ACC"]] if accusative and p.case_marking else []
    if np.kind == "wh":
        return [Word((_stem(lx, np.head, switch), *acc), "PRON", slot=slot, clause=ci)]
    if np.kind == "name":
        tokens = np.head.split()
        out = []
        for j, tok in enumerate(tokens):
            pieces = (tok, *acc) if j == len(tokens) - 1 else (tok,)
            out.append(Word(pieces, "PROPN", f"{'B' if j == 0 else 'I'}-{np.cls}", slot, ci))
        return out
    suffixes = []
    if np.plural:
        suffixes.append(lx.suffixes["PL"])
    suffixes += acc
    if p.articles == "suffix" and np.definite:
        suffixes.append(lx.suffixes["DEF"])
    noun = Word((_stem(lx, np.head, switch), *suffixes), "NOUN", slot=slot, clause=ci)
    out = []
    if p.articles == "pre" and np.definite:
        out.append(Word((_stem(lx, "the", switch),), "DET", slot=slot, clause=ci))
    elif p.articles in ("pre", "suffix") and not np.definite and not np.plural:
        out.append(Word((_stem(lx, "a", switch),), "DET", slot=slot, clause=ci))
    if np.numeral is not None:
        out.append(Word((str(np.numeral),), "NUM", slot=slot, clause=ci))
    adj = [Word((_stem(lx, np.adjective, switch),), "ADJ", slot=slot, clause=ci)] if np.adjective else []
    return out + ([noun, *adj] if p.adjective_after_noun else [*adj, noun])


def _clause(lx: Language, c: Clause, ci: int, question: str | None, switch: Switch | None) -> list[Word]:
    p = lx.profile
    en = p.code == "en"
    wh_np = None
    if question in ("s", "o"):
        target = c.subject if question == "s" else c.obj
        if target is None:
            raise ValueError("object question about an intransitive clause")
        wh_np = NP("wh", "who" if target.animate else "what", "wh")
    subject = wh_np if question == "s" else c.subject
    subj = _np(lx, subject, "s", ci, False, switch)
    obj: list[Word] = []
    if c.obj is not None:
        obj = _np(lx, wh_np if question == "o" else c.obj, "o", ci, True, switch)
    loc: list[Word] = []
    if question == "l":
        if c.place is None:
            raise ValueError("place question about a clause without a place")
        loc = [Word((_stem(lx, "where", switch),), "ADV", slot="l", clause=ci)]
    elif c.place is not None:
        adp = Word((_stem(lx, c.prep, switch),), "ADP", slot="lp", clause=ci)
        place = _np(lx, c.place, "l", ci, False, switch)
        loc = [*place, adp] if p.postpositions else [adp, *place]

    plural_subject = subject.plural
    # do-support in wh-questions only: English-like negation is the preverbal particle, as in the other
    # languages. With "does not" the English NLI classifier keyed contradiction on the aux "does", a
    # token no other language has, and contradiction did not transfer at all (0-15 of 137 per language).
    do_support = en and question in ("o", "l")
    agr = {"sg": not plural_subject, "pl": plural_subject}.get(p.verb_agreement, False) and not do_support
    verb = Word(
        (_stem(lx, c.verb, switch), *([lx.suffixes["AGR"]] if agr else [])),
        "VERB",
        slot="v",
        clause=ci,
    )
    aux = (
        Word((lx.words["do" if plural_subject else "does"],), "AUX", slot="aux", clause=ci)
        if do_support
        else None
    )
    neg = Word((_stem(lx, "not", switch),), "PART", slot="neg", clause=ci) if c.negated else None

    vgroup = [w for w in (neg, verb) if w is not None]  # the aux only ever goes with the fronted wh-word
    parts = {"S": subj, "V": vgroup, "O": obj, "L": loc}
    order = {"SVO": "SVOL", "SOV": "SLOV", "VSO": "VSOL"}[_clause_order(p, c)]
    if question and not p.wh_in_situ:  # front the wh constituent
        gap = {"s": "S", "o": "O", "l": "L"}[question]
        front = parts.pop(gap)
        if do_support:
            front = front + [aux]  # "what does Anna read ?"
        return front + [w for k in order if k in parts for w in parts[k]]
    return [w for k in order for w in parts[k]]


def _clause_order(profile: LanguageProfile, clause: Clause) -> str:
    """The clause's word order: the dominant one, or SVO for a stable pseudo-random share of clauses.

    Deterministic in the meaning (not an RNG), so a clause renders the same way every time.
    """
    if profile.free_order and zlib.crc32(f"{profile.code}:{clause!r}".encode()) % 1000 < 1000 * profile.free_order:
        return "SVO"
    return profile.order
