"""The mini-world's concept inventory: what can be said, independent of how any language says it.

Why: every language renders the same meanings, so the concepts (English stems are the concept
ids), their selectional restrictions, the shared named entities and the tag sets live in one
place that the lexicons, the grammar and the task generators all read.
"""

from __future__ import annotations

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
