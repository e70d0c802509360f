"""The tokenised-feature cache: hits equal fresh features, the key changes with every input, writes are atomic."""

from __future__ import annotations

import pickle
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import make_tokenizer

from xw import feature_cache
from xw.feature_cache import cached_featurize, feature_key, tokenizer_identity
from xw.featurize import featurize
from xw.tasks import TaskSpec

QA = TaskSpec(name="fc-qa", kind="qa", family="qa", role="target", languages=("en",), metric="squad",
              loader=lambda *a: None)
TAG = TaskSpec(name="fc-tag", kind="tagging", family="tagging", role="target", languages=("en",),
               metric="accuracy", loader=lambda *a: None, label_names=("O", "N", "V"))
CONTEXT = " ".join(["the cat sees a dog ."] * 12 + ["alice likes paris ."] + ["a tree is big ."] * 6)
QA_EXAMPLES = [{"id": f"q{i}", "question": "what does alice like ?", "context": CONTEXT,
                "answers": {"text": ["paris"], "answer_start": [CONTEXT.index("paris")]}} for i in range(5)]
TAG_EXAMPLES = [{"tokens": ["the", "cats", "eatska"], "tags": [0, 1, 2]}, {"tokens": ["alice", "runs"], "tags": [1, 2]}]


def test_hits_equal_fresh_features_and_skip_featurisation(tmp_path, tiny_tokenizer, monkeypatch):
    for task, examples in ((QA, QA_EXAMPLES), (TAG, TAG_EXAMPLES)):
        fresh = featurize(task, examples, tiny_tokenizer, 32, 8, train=True)
        first = cached_featurize(tmp_path, task, examples, tiny_tokenizer, 32, 8, train=True)
        assert first == fresh
    assert len(list(tmp_path.rglob("*.pkl"))) == 2

    def fail(*args, **kwargs):
        raise AssertionError("a cache hit must not featurise")

    monkeypatch.setattr(feature_cache, "featurize", fail)
    assert cached_featurize(tmp_path, QA, QA_EXAMPLES, tiny_tokenizer, 32, 8) == featurize(
        QA, QA_EXAMPLES, tiny_tokenizer, 32, 8)
    assert not list(tmp_path.rglob("*.tmp"))


def test_key_changes_with_every_input(tmp_path, tiny_tokenizer):
    base = feature_key(QA, QA_EXAMPLES, tiny_tokenizer, 32, 8, True, "first")
    other_examples = [dict(QA_EXAMPLES[0], question="who likes paris ?"), *QA_EXAMPLES[1:]]
    variants = [feature_key(QA, other_examples, tiny_tokenizer, 32, 8, True, "first"),
                feature_key(QA, QA_EXAMPLES[:4], tiny_tokenizer, 32, 8, True, "first"),
                feature_key(QA, QA_EXAMPLES, tiny_tokenizer, 64, 8, True, "first"),
                feature_key(QA, QA_EXAMPLES, tiny_tokenizer, 32, 16, True, "first"),
                feature_key(QA, QA_EXAMPLES, tiny_tokenizer, 32, 8, False, "first"),
                feature_key(QA, QA_EXAMPLES, tiny_tokenizer, 32, 8, True, "all"),
                feature_key(TAG, QA_EXAMPLES, tiny_tokenizer, 32, 8, True, "first")]
    assert len({base, *variants}) == 1 + len(variants)
    # the same tokenizer saved elsewhere is the same identity; a different vocabulary is not
    copy = make_tokenizer(tmp_path / "copy")
    assert tokenizer_identity(copy) == tokenizer_identity(tiny_tokenizer)
    from transformers import AutoTokenizer

    grown = AutoTokenizer.from_pretrained(tmp_path / "copy")
    grown.add_tokens(["zebra"])
    assert tokenizer_identity(grown) != tokenizer_identity(tiny_tokenizer)


def test_a_torn_file_is_rewritten_and_racing_writers_agree(tmp_path, tiny_tokenizer):
    key = feature_key(TAG, TAG_EXAMPLES, tiny_tokenizer, 32, 128, True, "first")
    path = tmp_path / key[:2] / f"{key}.pkl"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x80\x05trunc")  # a file torn by a crash of an older, non-atomic writer
    fresh = featurize(TAG, TAG_EXAMPLES, tiny_tokenizer, 32)
    assert cached_featurize(tmp_path, TAG, TAG_EXAMPLES, tiny_tokenizer, 32) == fresh
    assert pickle.loads(path.read_bytes()) == fresh
    path.unlink()
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cached_featurize(tmp_path, TAG, TAG_EXAMPLES, tiny_tokenizer, 32),
                                range(8)))
    assert all(r == fresh for r in results) and pickle.loads(path.read_bytes()) == fresh
    assert not list(tmp_path.rglob("*.tmp"))


def test_disabled_by_env(tmp_path, tiny_tokenizer, monkeypatch):
    monkeypatch.setenv("XW_FEATURE_CACHE", "0")
    assert cached_featurize(tmp_path, TAG, TAG_EXAMPLES, tiny_tokenizer, 32) == featurize(
        TAG, TAG_EXAMPLES, tiny_tokenizer, 32)
    assert not list(tmp_path.rglob("*.pkl"))


@pytest.fixture()
def tiny_tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))
