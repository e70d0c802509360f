"""Lexicons: each language's drawn stems and suffixes, and the WordPiece inventory they make.

Why: the seed only decides the words; drawing them so that greedy WordPiece recovers every
stem+suffix split the grammar can produce keeps morphology visible to the models (suffixes are
``##`` sub-tokens) and gives each language its own token range.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from xw.miniworld.concepts import (
    ADJECTIVES,
    CONTENT_WORDS,
    EN_ONLY_WORDS,
    FUNCTION_WORDS,
    LOC_NAMES,
    NOUN_CLASS,
    ORG_HEADS,
    ORG_TAILS,
    PARTICLE,
    PER_FIRST,
    PER_LAST,
    SUFFIX_KINDS,
    VERBS,
)
from xw.miniworld.profiles import PROFILE, PROFILES, LanguageProfile

SCRIPTS: dict[str, tuple[str, str]] = {  # script -> (consonants, vowels)
    "latin": ("bdfgklmnprstvz", "aeiou"),
    "greek": ("βγδζθκλμνξπρστφχ", "αεηιουω"),
    "cyrillic": ("бвгджзклмнпрстфхцчш", "аеиоуыэя"),
    "georgian": ("ბგდვზთკლმნპჟრსტფქღყშჩცძწჭხჯ", "აეიოუ"),
    "armenian": ("բգդզթժլխծկհձղճմյնշչպջռսվտրցփքֆ", "աեէըիոօ"),
}

_EN_SUFFIXES = {"PL": "s", "AGR": "s"}


@dataclass(frozen=True)
class Language:
    """A profile plus its drawn lexicon: concept -> stem, suffix kind -> suffix string."""

    profile: LanguageProfile
    words: dict[str, str]
    suffixes: dict[str, str]

    @property
    def code(self) -> str:
        return self.profile.code


def draw_languages(rng: random.Random) -> dict[str, Language]:
    """Draw every non-English lexicon so that greedy WordPiece recovers each stem+suffix split."""
    en = Language(
        PROFILE["en"], {c: c for c in (*CONTENT_WORDS, *FUNCTION_WORDS, *EN_ONLY_WORDS)}, dict(_EN_SUFFIXES)
    )
    used: set[str] = set(en.words.values())
    languages = {"en": en}
    for profile in PROFILES[1:]:
        consonants, vowels = SCRIPTS[profile.script]
        suffixes = {}
        for kind in SUFFIX_KINDS:
            suffixes[kind] = _fresh(rng, used, lambda c=consonants, v=vowels: rng.choice(v) + rng.choice(c))
        shared = set(rng.sample(CONTENT_WORDS, round(profile.shared_lexicon * len(CONTENT_WORDS))))
        words = {}
        for concept in (*CONTENT_WORDS, *FUNCTION_WORDS, PARTICLE):
            if concept in shared:
                words[concept] = concept
                continue
            n = 1 if concept in FUNCTION_WORDS or concept == PARTICLE else rng.choice((2, 2, 3))
            words[concept] = _fresh(rng, used, lambda n=n, c=consonants, v=vowels: _syllables(rng, c, v, n))
        languages[profile.code] = Language(profile, words, suffixes)
    _repair_segmentation(rng, languages, used)
    return languages


def _syllables(rng: random.Random, consonants: str, vowels: str, n: int) -> str:
    word = "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(n))
    return word + (rng.choice(consonants) if rng.random() < 0.3 else "")


def _fresh(rng: random.Random, used: set[str], draw: Callable[[], str]) -> str:
    for _ in range(1000):
        w = draw()
        if w not in used:
            used.add(w)
            return w
    raise RuntimeError("could not draw a fresh word; the alphabet is too small")


def _forms(languages: dict[str, Language], code: str) -> Iterable[tuple[str, tuple[str, ...]]]:
    """Every (stem, suffixes) combination the renderer can produce for host language ``code``."""
    lx = languages[code]
    sx = lx.suffixes
    noun_suffix_sets = [()]
    if "PL" in sx:
        noun_suffix_sets.append((sx["PL"],))
    if lx.profile.case_marking:
        noun_suffix_sets += [(sx["ACC"],), (sx["PL"], sx["ACC"])]
    if lx.profile.articles == "suffix":
        noun_suffix_sets += [(*s, sx["DEF"]) for s in list(noun_suffix_sets)]
    verb_suffix_sets = [(), (sx["AGR"],)] if lx.profile.verb_agreement else [()]
    hosts = [lx] if code == "en" else [lx, languages["en"]]  # code-switched stems keep host suffixes
    for host in hosts:
        for noun in NOUN_CLASS:
            for suf in noun_suffix_sets:
                yield host.words[noun], suf
        for verb in VERBS:
            for suf in verb_suffix_sets:
                yield host.words[verb], suf
    acc = (sx["ACC"],) if lx.profile.case_marking else ()
    for concept in (*ADJECTIVES, *FUNCTION_WORDS):
        yield lx.words[concept], ()
    for wh in ("who", "what"):
        yield lx.words[wh], acc
    for name in _entity_tokens():
        yield name, acc


def _entity_tokens() -> list[str]:
    return sorted(
        {tok for name in (*PER_FIRST, *PER_LAST, *LOC_NAMES, *ORG_HEADS, *ORG_TAILS) for tok in name.split()}
    )


def token_inventory(languages: dict[str, Language]) -> tuple[list[str], list[str]]:
    """(word-initial tokens, continuation tokens without ##): the vocabulary the tokenizer is built from."""
    initial: list[str] = []
    cont: list[str] = []
    for lx in languages.values():
        initial += [w for w in dict.fromkeys(lx.words.values()) if w not in initial]
        cont += [s for s in lx.suffixes.values() if s not in cont]
    shared = _entity_tokens() + [str(d) for d in range(10)] + [".", "?", ",", "!", "'", "-"]
    initial += [t for t in shared if t not in initial]
    # Latin letters as a fallback for typed-in text; the world's own words never need it
    latin = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
    initial += [c for c in latin if c not in initial]
    cont += [c for c in latin if c not in cont]
    return initial, cont


def _repair_segmentation(rng: random.Random, languages: dict[str, Language], used: set[str]) -> None:
    """Redraw stems (or a language's suffixes) until greedy WordPiece splits every form as intended."""
    for _ in range(100):
        initial, cont = (frozenset(x) for x in token_inventory(languages))
        bad_stems: set[tuple[str, str]] = set()
        bad_suffixes: set[str] = set()
        for code, lx in languages.items():
            for stem, suffixes in _forms(languages, code):
                if greedy_wordpiece(stem + "".join(suffixes), initial, cont) == [stem, *suffixes]:
                    continue
                if code == "en":
                    raise RuntimeError(
                        f"English form {stem}+{suffixes} does not segment; fix the concept list"
                    )
                own = stem in lx.words.values() and stem not in languages["en"].words.values()
                if own:
                    bad_stems.add((code, stem))
                else:
                    bad_suffixes.add(code)
        if not bad_stems and not bad_suffixes:
            return
        for code, stem in sorted(bad_stems):
            lx = languages[code]
            consonants, vowels = SCRIPTS[lx.profile.script]
            for concept, w in list(lx.words.items()):
                if w == stem:
                    lx.words[concept] = _fresh(
                        rng, used, lambda c=consonants, v=vowels: _syllables(rng, c, v, 2)
                    )
        for code in sorted(bad_suffixes):
            lx = languages[code]
            consonants, vowels = SCRIPTS[lx.profile.script]
            for kind in SUFFIX_KINDS:
                lx.suffixes[kind] = _fresh(
                    rng, used, lambda c=consonants, v=vowels: rng.choice(v) + rng.choice(c)
                )
    raise RuntimeError("could not draw a lexicon with unambiguous segmentation")


def greedy_wordpiece(word: str, initial: frozenset[str], cont: frozenset[str]) -> list[str]:
    """Greedy longest-match WordPiece, as the real tokenizer splits words (``["<unk>"]`` if none)."""
    out: list[str] = []
    i = 0
    while i < len(word):
        for j in range(len(word), i, -1):
            piece = word[i:j]
            if piece in (initial if i == 0 else cont):
                out.append(piece)
                i = j
                break
        else:
            return ["<unk>"]
    return out
