"""Tokenised training features, cached on disk by what they are made of.

Why: the 840 target cells of ``paper.yaml`` fine-tune on a handful of English training sets, and all
XLM-R sizes share one tokenizer: without a cache every cell tokenises its training set again (minutes
for SQuAD-sized sets). The key is a hash of everything :func:`xw.featurize.featurize` reads: the
examples' content, the tokenizer's identity (its full serialised vocabulary and settings, not its
name), the task's fields, max length, stride, train flag and tagging label rule, and
``FORMAT`` (bumped whenever featurisation changes). A hit is the same features a fresh call returns
(tests/test_feature_cache.py); a miss featurises and writes the file atomically (temp file + rename),
so cells racing on one key both end with a whole file.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformers import PreTrainedTokenizerBase

from xw.featurize import featurize
from xw.kinds import Feature
from xw.params import Study
from xw.tasks import TaskSpec

FORMAT = 1  # bump when featurisation changes, so old files are no longer hit
DISABLE_ENV = "XW_FEATURE_CACHE"  # "0": featurise afresh every time (no reads, no writes)
_TOKENIZER_IDS: dict[int, tuple[Any, str]] = {}  # id(tokenizer) -> (tokenizer, hash): hashing a vocab once


def features_dir(study: Study) -> Path:
    """Shared by every study under one output root: the key holds all that matters, not the study."""
    return Path(study.output_root) / "_cache" / "features"


def tokenizer_identity(tokenizer: PreTrainedTokenizerBase) -> str:
    """A hash of what the tokenizer does: a fast one's full serialisation (vocab, normaliser, pre-tokeniser,
    post-processor), else its vocabulary; plus its class and special tokens. Two copies of one tokenizer
    loaded from different paths share it; a retrained vocabulary under the same name does not."""
    cached = _TOKENIZER_IDS.get(id(tokenizer))
    if cached is not None and cached[0] is tokenizer:
        return cached[1]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    settings = json.dumps({"class": type(tokenizer).__name__, "special": tokenizer.special_tokens_map,
                           "padding_side": tokenizer.padding_side, "truncation_side": tokenizer.truncation_side},
                          sort_keys=True, default=str)
    digest = hashlib.sha256((settings + "\n" + body).encode()).hexdigest()
    _TOKENIZER_IDS[id(tokenizer)] = (tokenizer, digest)
    return digest


def _task_fields(task: TaskSpec) -> dict[str, Any]:
    return {"name": task.name, "kind": task.kind, "label_names": list(task.label_names), "pair": task.pair}


def feature_key(task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase, max_length: int,
                doc_stride: int, train: bool, label_piece: str) -> str:
    """The cache key: a sha256 over every input of featurisation (see the module docstring)."""
    digest = hashlib.sha256()
    header = {"format": FORMAT, "task": _task_fields(task), "tokenizer": tokenizer_identity(tokenizer),
              "max_length": max_length, "doc_stride": doc_stride, "train": train, "label_piece": label_piece}
    digest.update(json.dumps(header, sort_keys=True).encode())
    for example in examples:
        digest.update(json.dumps(example, sort_keys=True, default=str).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def cached_featurize(cache_dir: Path, task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                     max_length: int, doc_stride: int = 128, train: bool = True,
                     label_piece: str = "first") -> list[Feature]:
    """:func:`xw.featurize.featurize`, read from ``cache_dir`` when these inputs were featurised before."""
    if os.environ.get(DISABLE_ENV, "1").strip() == "0":
        return featurize(task, examples, tokenizer, max_length, doc_stride, train, label_piece=label_piece)
    key = feature_key(task, examples, tokenizer, max_length, doc_stride, train, label_piece)
    path = Path(cache_dir) / key[:2] / f"{key}.pkl"
    try:
        with path.open("rb") as handle:
            return pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError):
        pass  # not there yet (or unreadable): featurise and (re)write it
    features = featurize(task, examples, tokenizer, max_length, doc_stride, train, label_piece=label_piece)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{key[:8]}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            pickle.dump(features, out, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # atomic: a concurrent reader sees no file or a whole one
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return features
