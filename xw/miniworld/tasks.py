"""Mini-world tasks: one target per XTREME family plus English-only intermediate tasks.

Why: the study needs targets whose zero-shot transfer is real (learned, not hard-coded) and
intermediate tasks that differ in how related they are to the targets. Every example is generated
from a meaning and then rendered, so dev/test splits are parallel across languages (like XNLI,
XQuAD, Tatoeba) and per-language differences reflect the language, not the content.

Targets: mini-nli (pair classification), mini-pos and mini-ner (tagging), mini-qa (extractive QA),
mini-retrieval (Tatoeba-style bitext retrieval, no training data).
Intermediate (English only): mini-entail (2-way entailment over two-clause premises: close to
mini-nli), mini-squad (longer-context QA: close to mini-qa), mini-choice (reading-comprehension
multiple choice), mini-sentiment (single-sentence polarity: weakly related).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from typing import Any

import datasets

from xw.errors import DataNotFoundError
from xw.miniworld.concepts import ANTONYMS, NER_TAGS, NOUN_CLASSES, POLARITY, POS_TAGS, VERBS
from xw.miniworld.grammar import Word
from xw.miniworld.meanings import Clause, reduce_clause
from xw.miniworld.profiles import LANGUAGES
from xw.miniworld.world import World, get_world
from xw.tasks.base import DataConfig, RetrievalSet, TaskSpec, register
from xw.tasks.labels import NLI_LABELS

ENTAIL_LABELS = ("entailment", "not_entailment")
SENTIMENT_LABELS = ("negative", "positive")
NON_ENGLISH: tuple[str, ...] = tuple(lang for lang in LANGUAGES if lang != "en")

# examples per split; dev/test are per language (parallel), train is English (or translate-train)
SIZES: dict[str, dict[str, int]] = {
    "mini-nli": {"train": 3000, "dev": 200, "test": 400},
    "mini-pos": {"train": 2000, "dev": 200, "test": 400},
    "mini-ner": {"train": 2000, "dev": 200, "test": 400},
    "mini-qa": {"train": 3000, "dev": 200, "test": 400},
    "mini-retrieval": {"dev": 100, "test": 300},
    "mini-entail": {"train": 3000, "dev": 300, "test": 300},
    "mini-squad": {"train": 3000, "dev": 300, "test": 300},
    "mini-choice": {"train": 3000, "dev": 300, "test": 300},
    "mini-sentiment": {"train": 3000, "dev": 300, "test": 300},
}
_HINT = "mini-world data is generated from DataConfig.world_seed; nothing to download"


# --------------------------------------------------------------------------------------------
# Meaning-level generators: (world, rng) -> one item; rendering happens per language later
# --------------------------------------------------------------------------------------------


def _unrelated(world: World, rng: random.Random, c: Clause) -> Clause:
    """Same subject, an unrelated predicate (new verb and new object): neither entailed nor contradicted."""
    subj = c.subject.semantic_class
    fits = [v for v in VERBS if v not in (c.verb, ANTONYMS.get(c.verb)) and subj in VERBS[v][0]]
    same_kind = [v for v in fits if bool(VERBS[v][1]) == (c.obj is not None)]
    verb = rng.choice(same_kind or fits)
    if not VERBS[verb][1]:
        return replace(c, verb=verb, obj=None)
    for _ in range(50):
        obj = world.sample_np(rng, rng.choice(VERBS[verb][1]))
        if c.obj is None or obj.head != c.obj.head:
            return replace(c, verb=verb, obj=obj)
    raise RuntimeError("could not draw an unrelated predicate")  # pragma: no cover - pools are large


def _contradict(rng: random.Random, c: Clause) -> Clause:
    if c.verb in ANTONYMS and rng.random() < 0.5:
        return replace(c, verb=ANTONYMS[c.verb])
    return replace(c, negated=not c.negated)


def gen_nli(world: World, rng: random.Random) -> tuple[list[Clause], list[Clause], int]:
    """Premise: one clause. Hypothesis about the same subject: entailed (modifiers dropped),
    contradicting (negation flipped, or the verb replaced by its antonym) or neutral (an unrelated
    predicate, same polarity). Every label goes through the same modifier dropping, so length is no
    cue. (Single-word edits for neutral were not learnable in English by the mini models.)"""
    label = rng.randrange(3)
    premise = world.sample_clause(rng, transitive=0.85, place_prob=0.5, neg_prob=0.25)
    hyp = reduce_clause(premise, rng)
    if label == 2:
        hyp = _contradict(rng, hyp)
    elif label == 1:
        hyp = _unrelated(world, rng, hyp)
    return [premise], [hyp], label


def gen_entail(world: World, rng: random.Random) -> tuple[list[Clause], list[Clause], int]:
    """Premise: two clauses joined by 'and'; hypothesis about one of them; entailment or not."""
    while True:
        a = world.sample_clause(rng, transitive=0.85, place_prob=0.3, neg_prob=0.2)
        b = world.sample_clause(rng, transitive=0.85, place_prob=0.3, neg_prob=0.2)
        if a.subject.head != b.subject.head:
            break
    k = rng.randrange(2)
    base = reduce_clause((a, b)[k], rng, drop=0.7)
    if rng.random() < 0.5:
        return [a, b], [base], 0
    hyp = _contradict(rng, base) if rng.random() < 0.5 else _unrelated(world, rng, base)
    return [a, b], [hyp], 1


def gen_sentiment(world: World, rng: random.Random) -> tuple[list[Clause], int]:
    """One clause whose polarity (verb x negation + adjectives) is non-zero; label = its sign."""
    polar_verbs = [v for v in VERBS if v in POLARITY]
    while True:
        verb = rng.choice(polar_verbs) if rng.random() < 0.7 else None
        c = world.sample_clause(rng, verb=verb, neg_prob=0.3)
        score = POLARITY.get(c.verb, 0) * (-1 if c.negated else 1)
        for np in (c.subject, c.obj):
            if np is not None and np.adjective:
                score += POLARITY.get(np.adjective, 0)
        if score:
            return [c], int(score > 0)


def gen_sentence(
    world: World, rng: random.Random, *, name_prob: float = 0.3, exclude_rare: bool = False
) -> list[Clause]:
    """A declarative sentence: one clause, sometimes two joined by 'and'."""
    kw: dict[str, Any] = {"name_prob": name_prob, "exclude_rare": exclude_rare}
    if name_prob > 0.5:
        kw["place_prob"] = 0.6
    n = 2 if rng.random() < 0.3 else 1
    return [world.sample_clause(rng, **kw) for _ in range(n)]


def gen_story(world: World, rng: random.Random, n_min: int, n_max: int) -> tuple[list[Clause], int, str]:
    """Context clauses with distinct subjects and verbs (so every question has one answer),
    the index of the clause asked about and the slot asked for: s (who), o (what/who), l (where)."""
    clauses: list[Clause] = []
    k = rng.randint(n_min, n_max)
    while len(clauses) < k:
        c = world.sample_clause(rng, neg_prob=0.0, place_prob=0.5)
        if not any(c.subject.head == d.subject.head or c.verb == d.verb for d in clauses):
            clauses.append(c)
    qi = rng.randrange(len(clauses))
    c = clauses[qi]
    target = rng.choice(["s"] + (["o"] if c.obj else []) + (["l"] if c.place else []))
    return clauses, qi, target


def _question_clause(rng: random.Random, c: Clause, target: str) -> Clause:
    q = reduce_clause(c, rng)
    if target == "l":
        return replace(q, prep=c.prep, place=c.place)
    if rng.random() < 0.7:
        q = replace(q, prep=None, place=None)
    return q


# --------------------------------------------------------------------------------------------
# Rendering helpers
# --------------------------------------------------------------------------------------------


def _text(words: list[Word]) -> str:
    return " ".join(w.text for w in words)


def _render_story(world: World, lang: str, clauses: list[Clause]) -> tuple[str, list[list[tuple[int, Word]]]]:
    """Context text plus, per sentence, each word's character offset."""
    parts: list[str] = []
    offsets: list[list[tuple[int, Word]]] = []
    pos = 0
    for c in clauses:
        sent: list[tuple[int, Word]] = []
        for w in world.render(lang, [c]):
            if parts:
                pos += 1
            sent.append((pos, w))
            parts.append(w.text)
            pos += len(w.text)
        offsets.append(sent)
    return " ".join(parts), offsets


def _span(sentence: list[tuple[int, Word]], slot: str) -> tuple[int, int]:
    positions = [(start, start + len(w.text)) for start, w in sentence if w.slot == slot and w.clause == 0]
    return positions[0][0], positions[-1][1]


def _choice_text(world: World, c: Clause, target: str) -> str:
    """The English answer candidate for slot s/o/l of clause c (nominative form)."""
    np = {"s": c.subject, "o": c.obj, "l": c.place}[target]
    assert np is not None
    return _text(world.render_np("en", np))


# --------------------------------------------------------------------------------------------
# Split builders: meanings are drawn once per (task, split, seed); rendering per language
# --------------------------------------------------------------------------------------------


def _rng(seed: int, task: str, split: str) -> random.Random:
    return random.Random(f"xw-miniworld:{seed}:{task}:{split}")


@lru_cache(maxsize=64)
def _meanings(task: str, split: str, seed: int, size: int) -> tuple[Any, ...]:
    world = get_world(seed)
    rng = _rng(seed, task, split)
    gen: dict[str, Callable[[], Any]] = {
        "mini-nli": lambda: gen_nli(world, rng),
        "mini-entail": lambda: gen_entail(world, rng),
        "mini-sentiment": lambda: gen_sentiment(world, rng),
        "mini-pos": lambda: gen_sentence(world, rng),
        "mini-ner": lambda: gen_sentence(world, rng, name_prob=0.7, exclude_rare=split == "train"),
        "mini-qa": lambda: gen_story(world, rng, 2, 3),
        "mini-squad": lambda: gen_story(world, rng, 3, 5),
        "mini-choice": lambda: gen_story(world, rng, 2, 3),
        "mini-retrieval": lambda: gen_sentence(world, rng, name_prob=0.2),
    }
    if task == "mini-retrieval":  # distinct meanings, or retrieval has ties
        seen: set[str] = set()
        out = []
        while len(out) < size:
            item = gen[task]()
            key = _text(world.render("en", item))
            if key not in seen:
                seen.add(key)
                out.append(item)
        return tuple(out)
    return tuple(gen[task]() for _ in range(size))


def _rows(task: str, split: str, lang: str, seed: int, size: int) -> dict[str, list[Any]]:
    world = get_world(seed)
    items = _meanings(task, split, seed, size)
    if task in ("mini-nli", "mini-entail"):
        return {
            "text": [_text(world.render(lang, p)) for p, _, _ in items],
            "text_pair": [_text(world.render(lang, h)) for _, h, _ in items],
            "label": [label for _, _, label in items],
        }
    if task == "mini-sentiment":
        return {"text": [_text(world.render(lang, s)) for s, _ in items], "label": [y for _, y in items]}
    if task in ("mini-pos", "mini-ner"):
        names = POS_TAGS if task == "mini-pos" else NER_TAGS
        rendered = [world.render(lang, s) for s in items]
        return {
            "tokens": [[w.text for w in ws] for ws in rendered],
            "tags": [[names.index(w.pos if task == "mini-pos" else w.ner) for w in ws] for ws in rendered],
        }
    if task in ("mini-qa", "mini-squad"):
        rows: dict[str, list[Any]] = {"id": [], "context": [], "question": [], "answers": []}
        q_rng = _rng(seed, task, split + ":questions")
        for i, (clauses, qi, target) in enumerate(items):
            context, offsets = _render_story(world, lang, clauses)
            start, end = _span(offsets[qi], target)
            qc = _question_clause(q_rng, clauses[qi], target)
            rows["id"].append(f"{task}-{split}-{i}")
            rows["context"].append(context)
            rows["question"].append(_text(world.render(lang, [qc], question=target)))
            rows["answers"].append({"text": [context[start:end]], "answer_start": [start]})
        return rows
    if task == "mini-choice":
        rows = {"context": [], "choices": [], "label": []}
        c_rng = _rng(seed, task, split + ":choices")
        for clauses, qi, target in items:
            context, _ = _render_story(world, lang, clauses)
            question = _text(
                world.render(lang, [_question_clause(c_rng, clauses[qi], target)], question=target)
            )
            answer = _choice_text(world, clauses[qi], target)
            distractors = list(
                dict.fromkeys(
                    _choice_text(world, c, t)
                    for c in clauses
                    for t in ("s", "o", "l")
                    if (t != "o" or c.obj) and (t != "l" or c.place)
                )
            )
            distractors = [d for d in distractors if d != answer]
            while len(distractors) < 3:
                cls = c_rng.choice(tuple(NOUN_CLASSES))
                d = _text(world.render_np("en", world.sample_np(c_rng, cls)))
                if d != answer and d not in distractors:
                    distractors.append(d)
            choices = [answer, *c_rng.sample(distractors, 3)]
            c_rng.shuffle(choices)
            rows["context"].append(f"{context} {question}")
            rows["choices"].append(choices)
            rows["label"].append(choices.index(answer))
        return rows
    raise KeyError(task)  # pragma: no cover


def _sizes(task: str, data_config: DataConfig) -> dict[str, int]:
    """Split sizes, overridable with DataConfig.options, e.g. {"train_size": 500}."""
    sizes = dict(SIZES[task])
    for split in sizes:
        sizes[split] = int(data_config.options.get(f"{split}_size", sizes[split]))
    return sizes


@lru_cache(maxsize=256)
def _dataset(task: str, split: str, lang: str, seed: int, size: int) -> datasets.Dataset:
    return datasets.Dataset.from_dict(_rows(task, split, lang, seed, size))


@lru_cache(maxsize=64)
def _retrieval(split: str, lang: str, seed: int, size: int) -> RetrievalSet:
    world = get_world(seed)
    items = _meanings("mini-retrieval", split, seed, size)
    return RetrievalSet(
        source_ids=[f"{lang}-{i}" for i in range(len(items))],
        source_texts=[_text(world.render(lang, s)) for s in items],
        target_ids=[f"en-{i}" for i in range(len(items))],
        target_texts=[_text(world.render("en", s)) for s in items],
        gold=[(f"{lang}-{i}", f"en-{i}") for i in range(len(items))],
    )


def load(task: str, split: str, language: str, data_config: DataConfig) -> datasets.Dataset | RetrievalSet:
    """Load one split of a mini-world task in one language (the TaskSpec loader)."""
    spec_langs = LANGUAGES if task != "mini-retrieval" else NON_ENGLISH
    if task in INTERMEDIATE:
        spec_langs = ("en",)
    sizes = _sizes(task, data_config)
    if language not in spec_langs or split not in sizes:
        raise DataNotFoundError(
            f"task {task!r} has no split {split!r} in language {language!r}: splits {sorted(sizes)}, "
            f"languages {', '.join(spec_langs)}. {_HINT}."
        )
    if task == "mini-retrieval":
        return _retrieval(split, language, data_config.world_seed, sizes[split])
    return _dataset(task, split, language, data_config.world_seed, sizes[split])


def _loader(task: str) -> Callable[[str, str, DataConfig], Any]:
    def loader(split: str, language: str, data_config: DataConfig) -> Any:
        return load(task, split, language, data_config)

    loader.__name__ = f"load_{task.replace('-', '_')}"
    return loader


INTERMEDIATE = ("mini-entail", "mini-squad", "mini-choice", "mini-sentiment")

TASKS: tuple[TaskSpec, ...] = (
    TaskSpec("mini-nli", "classification", "classification", "target", LANGUAGES, "accuracy", _loader("mini-nli"),
             label_names=NLI_LABELS, pair=True, primary_metric="accuracy", data_hint=_HINT,
             description="premise/hypothesis about one situation: entailment, neutral, contradiction (XNLI-like)"),
    TaskSpec("mini-pos", "tagging", "tagging", "target", LANGUAGES, "accuracy", _loader("mini-pos"),
             label_names=POS_TAGS, primary_metric="accuracy", data_hint=_HINT,
             description="universal part-of-speech tags per word (UD-POS-like)"),
    TaskSpec("mini-ner", "tagging", "tagging", "target", LANGUAGES, "seqeval_f1", _loader("mini-ner"),
             label_names=NER_TAGS, primary_metric="f1", data_hint=_HINT,
             description="BIO tags for persons, places, organisations; a quarter of names unseen in training (PAN-X-like)"),
    TaskSpec("mini-qa", "qa", "qa", "target", LANGUAGES, "squad", _loader("mini-qa"),
             primary_metric="f1", data_hint=_HINT,
             description="who/what/where questions over 2-3 sentence contexts (XQuAD-like)"),
    TaskSpec("mini-retrieval", "retrieval", "retrieval", "target", NON_ENGLISH, "tatoeba_accuracy",
             _loader("mini-retrieval"), train_split=None, primary_metric="accuracy", data_hint=_HINT,
             retrieval_query="source",
             description="find the English translation of each sentence (Tatoeba-like, no training data)"),
    TaskSpec("mini-entail", "classification", "classification", "intermediate", ("en",), "accuracy",
             _loader("mini-entail"), label_names=ENTAIL_LABELS, pair=True, primary_metric="accuracy",
             data_hint=_HINT, description="does a two-clause premise entail a hypothesis (RTE/MNLI-like; close to mini-nli)"),
    TaskSpec("mini-squad", "qa", "qa", "intermediate", ("en",), "squad", _loader("mini-squad"),
             primary_metric="f1", data_hint=_HINT, description="who/what/where over 3-5 sentence contexts (SQuAD-like)"),
    TaskSpec("mini-choice", "multiple_choice", "multiple_choice", "intermediate", ("en",), "accuracy",
             _loader("mini-choice"), primary_metric="accuracy", data_hint=_HINT,
             description="pick the answer to a question about a short story from 4 choices (RACE/CosmosQA-like)"),
    TaskSpec("mini-sentiment", "classification", "classification", "intermediate", ("en",), "accuracy",
             _loader("mini-sentiment"), label_names=SENTIMENT_LABELS, primary_metric="accuracy", data_hint=_HINT,
             description="polarity of one sentence from verb, negation and adjectives (SST-like; weakly related)"),
)  # fmt: skip

for _spec in TASKS:
    register(_spec)

__all__ = ["INTERMEDIATE", "NON_ENGLISH", "SIZES", "TASKS", "load"]
