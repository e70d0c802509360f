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
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

# --------------------------------------------------------------------------------------------
# The concept inventory (English stems are the concept ids)
# --------------------------------------------------------------------------------------------

NOUN_CLASSES: dict[str, tuple[str, ...]] = {
    "person": ("man", "woman", "child", "doctor", "teacher", "farmer", "student", "king", "baker", "driver"),
    "animal": ("dog", "cat", "bird", "horse", "goat"),
    "food": ("apple", "bread", "cake", "soup", "egg"),
    "text": ("book", "letter", "paper", "map"),
    "opener": ("door", "window", "bag", "jar"),
    "thing": ("car", "ball", "cup", "chair", "key", "ring", "hat", "lamp"),
    "place": ("garden", "school", "market", "park", "kitchen", "forest", "house", "office"),
}
NOUN_CLASS: dict[str, str] = {noun: cls for cls, nouns in NOUN_CLASSES.items() for noun in nouns}
ANIMATE = frozenset({"person", "animal", "org"})

# verb -> (subject classes, object classes; () = intransitive). "person" includes PER names, "org" ORG names.
VERBS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "read": (("person",), ("text",)),
    "write": (("person",), ("text",)),
    "open": (("person",), ("opener", "text")),
    "close": (("person",), ("opener", "text")),
    "buy": (("person", "org"), ("food", "thing", "text")),
    "sell": (("person", "org"), ("food", "thing", "text")),
    "love": (("person", "animal"), ("person", "animal", "food", "thing")),
    "hate": (("person", "animal"), ("person", "animal", "food", "thing")),
    "find": (("person", "animal", "org"), ("thing", "text", "animal")),
    "lose": (("person", "animal", "org"), ("thing", "text", "animal")),
    "fix": (("person", "org"), ("thing", "opener")),
    "break": (("person", "org"), ("thing", "opener")),
    "eat": (("person", "animal"), ("food",)),
    "cook": (("person",), ("food",)),
    "see": (("person", "animal"), ("person", "animal", "thing", "opener")),
    "watch": (("person", "animal"), ("person", "animal", "thing")),
    "carry": (("person", "animal"), ("thing", "food", "text", "opener")),
    "meet": (("person",), ("person", "org")),
    "help": (("person", "org"), ("person", "org")),
    "call": (("person", "org"), ("person", "org")),
    "wash": (("person",), ("thing", "animal", "opener")),
    "sleep": (("person", "animal"), ()),
    "run": (("person", "animal"), ()),
    "walk": (("person", "animal"), ()),
    "swim": (("person", "animal"), ()),
    "wait": (("person", "animal"), ()),
    "sing": (("person",), ()),
    "laugh": (("person",), ()),
    "cry": (("person",), ()),
    "work": (("person", "org"), ()),
    "dance": (("person",), ()),
}
TRANSITIVE = tuple(v for v, (_, objs) in VERBS.items() if objs)
INTRANSITIVE = tuple(v for v, (_, objs) in VERBS.items() if not objs)
_ANTONYM_PAIRS = (("open", "close"), ("buy", "sell"), ("love", "hate"), ("find", "lose"), ("fix", "break"))
ANTONYMS: dict[str, str] = {a: b for a, b in _ANTONYM_PAIRS} | {b: a for a, b in _ANTONYM_PAIRS}

# adjective -> noun classes it can modify
ADJECTIVES: dict[str, tuple[str, ...]] = {
    "big": ("animal", "thing", "opener", "place"),
    "small": ("animal", "thing", "opener", "place"),
    "old": ("person", "animal", "thing", "text", "place"),
    "young": ("person", "animal"),
    "red": ("thing", "opener", "food"),
    "blue": ("thing", "opener"),
    "green": ("thing", "opener", "food"),
    "happy": ("person", "animal"),
    "sad": ("person", "animal"),
    "tall": ("person",),
    "new": ("thing", "text", "opener", "place"),
    "fast": ("animal",),
    "good": ("person", "food", "text"),
    "bad": ("person", "food", "text"),
    "hot": ("food",),
    "cold": ("food",),
}
# evaluative polarity, used by the sentiment task
POLARITY: dict[str, int] = {
    "love": 1, "help": 1, "fix": 1, "find": 1, "laugh": 1, "dance": 1, "sing": 1,
    "hate": -1, "break": -1, "lose": -1, "cry": -1,
    "happy": 1, "good": 1, "sad": -1, "bad": -1,
}  # fmt: skip

FUNCTION_WORDS = ("the", "a", "not", "and", "in", "at", "near", "who", "what", "where")
EN_ONLY_WORDS = ("does", "do")  # English do-support (wh-questions)
PARTICLE = "<q>"  # sentence-final question particle (wh-in-situ languages only)
PREPOSITIONS: dict[str, tuple[str, ...]] = {
    "in": ("LOC", "place"),
    "at": ("ORG", "place"),
    "near": ("LOC", "place"),
}
SUFFIX_KINDS = ("PL", "ACC", "AGR", "DEF")
CONTENT_WORDS: tuple[str, ...] = tuple(NOUN_CLASS) + tuple(VERBS) + tuple(ADJECTIVES)
SWITCHABLE = frozenset(CONTENT_WORDS + FUNCTION_WORDS)  # code-switching also borrows function words

# Named entities are shared across languages (like names in real text); a few are ambiguous PER/LOC.
PER_FIRST = (
    "Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Iris", "Jonas", "Kira", "Leo",
    "Maya", "Nico", "Olga", "Paul", "Rosa", "Sami", "Tara", "Umar", "Vera", "Yuri", "Zoe", "Omar",
    "Lina", "Ivan", "Nora", "Emil", "Jordan", "Florence",
)  # fmt: skip
PER_LAST = (
    "Berg",
    "Costa",
    "Dahl",
    "Ferro",
    "Kato",
    "Lund",
    "Moreau",
    "Novak",
    "Okafor",
    "Petrov",
    "Rossi",
    "Weber",
)
LOC_NAMES = (
    "Paris", "Lagos", "Oslo", "Lima", "Cairo", "Tokyo", "Quito", "Delhi", "Rome", "Kyiv", "Hanoi",
    "Dakar", "Porto", "Riga", "Seoul", "Accra", "Bern", "Tunis", "Jordan", "Florence", "Georgia",
    "Port Elm", "San Lucas", "North Bay", "Lake Vira",
)  # fmt: skip
ORG_HEADS = (
    "Acme",
    "Globex",
    "Initech",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Cyberdyne",
    "Soylent",
    "Zentro",
)
ORG_TAILS = ("Bank", "Group", "Labs", "Motors", "Press")

POS_TAGS = ("ADJ", "ADP", "AUX", "CCONJ", "DET", "NOUN", "NUM", "PART", "PROPN", "PUNCT", "VERB")
NER_TAGS = ("O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC")

# --------------------------------------------------------------------------------------------
# Languages
# --------------------------------------------------------------------------------------------

SCRIPTS: dict[str, tuple[str, str]] = {  # script -> (consonants, vowels)
    "latin": ("bdfgklmnprstvz", "aeiou"),
    "greek": ("βγδζθκλμνξπρστφχ", "αεηιουω"),
    "cyrillic": ("бвгджзклмнпрстфхцчш", "аеиоуыэя"),
    "georgian": ("ბგდვზთკლმნპჟრსტფქღყშჩცძწჭხჯ", "აეიოუ"),
    "armenian": ("բգդզթժլխծկհձղճմյնշչպջռսվտրցփքֆ", "աեէըիոօ"),
}


@dataclass(frozen=True)
class LanguageProfile:
    """The controlled typological differences of one language (fixed; the seed only draws words)."""

    code: str
    name: str
    script: str
    order: str  # dominant order: "SVO" | "SOV" | "VSO"
    adjective_after_noun: bool
    postpositions: bool
    articles: str  # "pre" (word before the noun) | "none" | "suffix" (definite suffix, indefinite word)
    case_marking: bool  # accusative suffix on objects
    verb_agreement: str  # "sg": suffix with singular subjects (en), "pl": with plural subjects, "": none
    wh_in_situ: bool  # question word stays in place, sentence-final particle
    shared_lexicon: float  # fraction of content stems identical to English (cognates)
    description: str
    free_order: float = 0.0  # share of clauses in SVO instead (case-marking languages order freely)


PROFILES: tuple[LanguageProfile, ...] = (
    LanguageProfile("en", "English-like", "latin", "SVO", False, False, "pre", False, "sg", False, 1.0,
                    "SVO, prepositions, articles, plural -s, 3sg -s, do-support in wh-questions, preverbal not"),
    LanguageProfile("xl", "Latin cousin", "latin", "SVO", True, False, "pre", False, "pl", False, 0.4,
                    "same script and order, 40% shared content words, adjectives after nouns"),
    LanguageProfile("xg", "Greek-script SVO", "greek", "SVO", False, False, "pre", True, "", False, 0.2,
                    "own script, same order, accusative suffix, 20% loanwords"),
    LanguageProfile("xc", "Cyrillic-script SOV", "cyrillic", "SOV", False, True, "none", True, "pl", False, 0.2,
                    "own script, SOV (40% SVO), postpositions, no articles, case and agreement suffixes, "
                    "20% loanwords", free_order=0.4),
    LanguageProfile("xk", "Georgian-script VSO", "georgian", "VSO", True, False, "none", True, "pl", False, 0.2,
                    "own script, VSO (40% SVO), adjectives after nouns, case and agreement suffixes, "
                    "20% loanwords", free_order=0.4),
    LanguageProfile("xh", "Armenian-script SOV", "armenian", "SOV", False, True, "suffix", True, "", True, 0.2,
                    "own script, SOV (25% SVO), postpositions, definite suffix, wh-in-situ with a question "
                    "particle, 20% loanwords", free_order=0.25),
)  # fmt: skip
LANGUAGES: tuple[str, ...] = tuple(p.code for p in PROFILES)
PROFILE: dict[str, LanguageProfile] = {p.code: p for p in PROFILES}

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


# --------------------------------------------------------------------------------------------
# Meanings
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# The world
# --------------------------------------------------------------------------------------------


class World:
    """All languages of one seed, with samplers for meanings and renderers for sentences."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        rng = random.Random(f"xw-miniworld:{seed}")
        self.languages: dict[str, Language] = _draw_languages(rng)
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

    # ---- rendering -----------------------------------------------------------------------------

    def render(
        self,
        lang: str,
        clauses: Sequence[Clause],
        *,
        question: str | None = None,
        switch: tuple[random.Random, float] | None = None,
    ) -> list[Word]:
        """Render a sentence (clauses joined by 'and'), or a wh-question about slot s/o/l of clause 0.

        ``switch=(rng, rate)`` code-switches: each word (content stem or function word) is replaced
        by its English counterpart with probability ``rate`` (host-language suffixes and word order
        kept), a stand-in for the alignment signal that real multilingual corpora contain.
        """
        lx = self.languages[lang]
        words: list[Word] = []
        for i, clause in enumerate(clauses):
            if i:
                words.append(Word((self._stem(lx, "and", switch),), "CCONJ", slot="conj", clause=i))
            q = question if i == 0 else None
            words.extend(self._clause(lx, clause, i, q, switch))
        if question and lx.profile.wh_in_situ:
            words.append(Word((lx.words[PARTICLE],), "PART", slot="q"))
        words.append(Word(("?" if question else ".",), "PUNCT", slot="punct", clause=len(clauses) - 1))
        return words

    def render_np(self, lang: str, np: NP, *, accusative: bool = False) -> list[Word]:
        """Render one noun phrase on its own (e.g. answer choices)."""
        return self._np(self.languages[lang], np, "np", 0, accusative, None)

    def _stem(self, lx: Language, concept: str, switch: tuple[random.Random, float] | None) -> str:
        if switch is not None and concept in SWITCHABLE and switch[0].random() < switch[1]:
            return concept
        return lx.words[concept]

    def _np(self, lx: Language, np: NP, slot: str, ci: int, accusative: bool, switch) -> list[Word]:
        p = lx.profile
        acc = [lx.suffixes["ACC"]] if accusative and p.case_marking else []
        if np.kind == "wh":
            return [Word((self._stem(lx, np.head, switch), *acc), "PRON", slot=slot, clause=ci)]
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
        noun = Word((self._stem(lx, np.head, switch), *suffixes), "NOUN", slot=slot, clause=ci)
        out = []
        if p.articles == "pre" and np.definite:
            out.append(Word((self._stem(lx, "the", switch),), "DET", slot=slot, clause=ci))
        elif p.articles in ("pre", "suffix") and not np.definite and not np.plural:
            out.append(Word((self._stem(lx, "a", switch),), "DET", slot=slot, clause=ci))
        if np.numeral is not None:
            out.append(Word((str(np.numeral),), "NUM", slot=slot, clause=ci))
        adj = (
            [Word((self._stem(lx, np.adjective, switch),), "ADJ", slot=slot, clause=ci)]
            if np.adjective
            else []
        )
        return out + ([noun, *adj] if p.adjective_after_noun else [*adj, noun])

    def _clause(self, lx: Language, c: Clause, ci: int, question: str | None, switch) -> list[Word]:
        p = lx.profile
        en = p.code == "en"
        wh_np = None
        if question in ("s", "o"):
            target = c.subject if question == "s" else c.obj
            if target is None:
                raise ValueError("object question about an intransitive clause")
            wh_np = NP("wh", "who" if target.animate else "what", "wh")
        subject = wh_np if question == "s" else c.subject
        subj = self._np(lx, subject, "s", ci, False, switch)
        obj: list[Word] = []
        if c.obj is not None:
            obj = self._np(lx, wh_np if question == "o" else c.obj, "o", ci, True, switch)
        loc: list[Word] = []
        if question == "l":
            if c.place is None:
                raise ValueError("place question about a clause without a place")
            loc = [Word((self._stem(lx, "where", switch),), "ADV", slot="l", clause=ci)]
        elif c.place is not None:
            adp = Word((self._stem(lx, c.prep, switch),), "ADP", slot="lp", clause=ci)
            place = self._np(lx, c.place, "l", ci, False, switch)
            loc = [*place, adp] if p.postpositions else [adp, *place]

        plural_subject = subject.plural
        # do-support in wh-questions only: English-like negation is the preverbal particle, as in the other
        # languages. With "does not" the English NLI classifier keyed contradiction on the aux "does", a
        # token no other language has, and contradiction did not transfer at all (0-15 of 137 per language).
        do_support = en and question in ("o", "l")
        agr = {"sg": not plural_subject, "pl": plural_subject}.get(p.verb_agreement, False) and not do_support
        verb = Word(
            (self._stem(lx, c.verb, switch), *([lx.suffixes["AGR"]] if agr else [])),
            "VERB",
            slot="v",
            clause=ci,
        )
        aux = (
            Word((lx.words["do" if plural_subject else "does"],), "AUX", slot="aux", clause=ci)
            if do_support
            else None
        )
        neg = Word((self._stem(lx, "not", switch),), "PART", slot="neg", clause=ci) if c.negated else None

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

    # ---- vocabulary ------------------------------------------------------------------------------

    def token_inventory(self) -> tuple[list[str], list[str]]:
        """(word-initial tokens, continuation tokens without ##), grouped by language, then shared.

        Each language's stems form one contiguous id range (its "script"); named entities, digits and
        punctuation are shared; Latin letters are a fallback for typed-in English-like text.
        """
        return _inventory(self.languages)

    def segment(self, word: str) -> list[str]:
        """Greedy longest-match WordPiece over this world's inventory (mirrors the real tokenizer)."""
        if self._sets is None:
            self._sets = tuple(frozenset(x) for x in self.token_inventory())
        return _greedy_wordpiece(word, *self._sets)


# --------------------------------------------------------------------------------------------
# Drawing lexicons
# --------------------------------------------------------------------------------------------


def _draw_languages(rng: random.Random) -> dict[str, Language]:
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


def _fresh(rng: random.Random, used: set[str], draw) -> str:
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


def _inventory(languages: dict[str, Language]) -> tuple[list[str], list[str]]:
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
        initial, cont = (frozenset(x) for x in _inventory(languages))
        bad_stems: set[tuple[str, str]] = set()
        bad_suffixes: set[str] = set()
        for code, lx in languages.items():
            for stem, suffixes in _forms(languages, code):
                if _greedy_wordpiece(stem + "".join(suffixes), initial, cont) == [stem, *suffixes]:
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


def _greedy_wordpiece(word: str, initial: frozenset[str], cont: frozenset[str]) -> list[str]:
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


def _clause_order(profile: LanguageProfile, clause: Clause) -> str:
    """The clause's word order: the dominant one, or SVO for a stable pseudo-random share of clauses.

    Deterministic in the meaning (not an RNG), so a clause renders the same way every time.
    """
    if profile.free_order and zlib.crc32(f"{profile.code}:{clause!r}".encode()) % 1000 < 1000 * profile.free_order:
        return "SVO"
    return profile.order


@lru_cache(maxsize=8)
def get_world(seed: int = 0) -> World:
    """The world for ``seed``, built once per process."""
    return World(seed)


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
