"""Tiny registered tasks over the conftest vocabulary, so phase and grid tests run in seconds.

Language "xx" writes colours in upper case and "yy" reverses word order: the tiny tokenizer
lower-cases, so "xx" is a copy of English and "yy" a reordering.
"""

from __future__ import annotations

import random

import datasets

from xw.tasks import RetrievalSet, TaskSpec, register

NOUNS = ["cat", "dog", "tree", "house"]


def _sentences(n: int, seed: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    return [(f"the {rng.choice(NOUNS)} is {'red' if (label := rng.randint(0, 1)) else 'blue'} .", label)
            for _ in range(n)]


def _render(text: str, language: str) -> str:
    if language == "yy":
        words = text.split()
        return " ".join(words[:-1][::-1] + words[-1:])
    if language == "xx":
        return text.upper()
    return text


def colour_loader(split: str, language: str, data) -> datasets.Dataset:
    rows = _sentences(48 if split == "train" else 16, seed={"train": 0, "test": 1, "dev": 2}[split])
    return datasets.Dataset.from_list([{"text": _render(t, language), "label": y} for t, y in rows])


def tag_loader(split: str, language: str, data) -> datasets.Dataset:
    rows = _sentences(32 if split == "train" else 8, seed=5 if split == "train" else 6)
    out = []
    for text, _ in rows:
        tokens = _render(text, language).split()
        out.append({"tokens": tokens, "tags": [1 if t.lower() in NOUNS else 0 for t in tokens]})
    return datasets.Dataset.from_list(out)


def bitext_loader(split: str, language: str, data) -> RetrievalSet:
    texts = [t for t, _ in _sentences(10, seed=9)]
    ids = [f"{language}-{i}" for i in range(len(texts))]
    en_ids = [f"en-{i}" for i in range(len(texts))]
    return RetrievalSet(ids, [_render(t, language) for t in texts], en_ids, texts, list(zip(ids, en_ids, strict=True)))


FAKE_INTERMEDIATE = register(TaskSpec(
    name="fake-colour", kind="classification", family="classification", role="intermediate", languages=("en",),
    metric="accuracy", loader=colour_loader, label_names=("blue", "red"), primary_metric="accuracy"))
FAKE_INTERMEDIATE_2 = register(TaskSpec(
    name="fake-nouns", kind="tagging", family="tagging", role="intermediate", languages=("en",),
    metric="accuracy", loader=tag_loader, label_names=("O", "NOUN"), primary_metric="accuracy"))
FAKE_TARGET = register(TaskSpec(
    name="fake-colour-x", kind="classification", family="classification", role="target",
    languages=("en", "xx", "yy"), metric="accuracy", loader=colour_loader, label_names=("blue", "red"),
    primary_metric="accuracy"))
FAKE_TAGGING = register(TaskSpec(
    name="fake-nouns-x", kind="tagging", family="tagging", role="target", languages=("en", "xx", "yy"),
    metric="seqeval_f1", loader=tag_loader, label_names=("O", "B-NOUN"), primary_metric="f1"))
FAKE_RETRIEVAL = register(TaskSpec(
    name="fake-bitext", kind="retrieval", family="retrieval", role="target", languages=("xx", "yy"),
    metric="tatoeba_accuracy", loader=bitext_loader, primary_metric="accuracy", dev_split=None))


def study_dict(checkpoints: dict[str, str], name: str = "fake", seeds=(0,)) -> dict:
    """A study over the fake tasks with a ladder of local tiny checkpoints."""
    return {
        "study": name,
        "models": {"family": "tiny", "ladder": [{"name": k, "path": v} for k, v in checkpoints.items()]},
        "intermediate_tasks": ["none", "fake-colour", "fake-nouns", "multi"],
        "target_tasks": ["fake-colour-x", "fake-nouns-x", "fake-bitext"],
        "seeds": list(seeds),
        "training": {"default": {"learning_rate": 2e-3, "batch_size": 16, "epochs": 2, "max_length": 16}},
        "executor": {"workers": 1},
    }


def load_fake_study(tmp_path, ladder: dict[str, str]):
    """The fake study over ``ladder`` written to tmp_path and loaded the way a user's file is."""
    import yaml

    from xw.study import load_study

    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(study_dict(ladder)))
    return load_study(path, output_root=tmp_path / "outputs")
