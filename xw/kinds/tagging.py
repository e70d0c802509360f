"""Token tagging: the label on each word's first sub-token (HF's run_ner.py; or its first non-empty one), a
token-classification head.

Why: the tagging kind's featurisation, its prediction post-processing (sub-tokens back to words)
and scoring in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers import AutoModelForTokenClassification, PreTrainedTokenizerBase

from xw.kinds.base import IGNORE, Feature, ModelKind, example_id
from xw.tasks import TaskSpec
from xw.tasks.kinds import Tagging

EMPTY_PIECE_MARKS = "\u2581\u0120"  # SentencePiece's word start "▁", byte-level BPE's "Ġ"


def featurize_tagging(examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                      max_length: int, label_piece: str = "first") -> list[Feature]:
    """Each word's label on one sub-token, the others IGNORE: its first ('first', XTREME / run_ner.py), or its
    first with text ('first_nonempty'): XLM-R's SentencePiece splits a pre-split ja/zh word into a bare "▁"
    and the characters, and the bare piece is the same for every word, so it cannot carry the word's label."""
    enc = tokenizer([list(ex["tokens"]) for ex in examples], is_split_into_words=True, truncation=True,
                    max_length=max_length)
    features = []
    for i, ex in enumerate(examples):
        word_ids = enc.word_ids(i)
        labels = [IGNORE] * len(word_ids)
        pieces = tokenizer.convert_ids_to_tokens(enc["input_ids"][i]) if label_piece == "first_nonempty" else None
        for position, word in enumerate(word_ids):
            if word is None:
                continue
            first = position == 0 or word_ids[position - 1] != word
            if first:
                labels[position], start = int(ex["tags"][word]), position
            elif pieces is not None and labels[start] != IGNORE and not pieces[start].strip(EMPTY_PIECE_MARKS):
                if pieces[position].strip(EMPTY_PIECE_MARKS):  # the word's first piece with text takes the label
                    labels[position], labels[start] = labels[start], IGNORE
        features.append({"input_ids": enc["input_ids"][i], "labels": labels, "word_ids": word_ids,
                         "example_index": i})
    return features


def tagging_predictions(task: TaskSpec, examples: Sequence[dict], features: list[Feature],
                        outputs: list) -> tuple[list[list[str]], list[list[str]]]:
    """Label of each word = prediction at its first sub-token; words cut by truncation get 'O'/first label."""
    names = task.label_names
    fallback = "O" if "O" in names else names[0]
    predictions, references = [], []
    for feature, logits in zip(features, outputs, strict=True):
        example = examples[feature["example_index"]]
        words = [fallback] * len(example["tokens"])
        for position, (word, label) in enumerate(zip(feature["word_ids"], feature["labels"], strict=True)):
            if word is not None and label != IGNORE:
                words[word] = names[int(np.argmax(logits[position]))]
        predictions.append(words)
        references.append([names[t] for t in example["tags"]])
    return predictions, references


class TaggingModel(ModelKind, Tagging):
    head = AutoModelForTokenClassification

    def featurize(self, task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                  max_length: int, doc_stride: int, train: bool, label_piece: str = "first") -> list[Feature]:
        return featurize_tagging(examples, tokenizer, max_length, label_piece)

    def decode(self, task: TaskSpec, examples: Sequence[dict], features: list[Feature],
               outputs: list) -> tuple[list[list[str]], list[list[str]]]:
        return tagging_predictions(task, examples, features, outputs)

    def prediction_rows(self, task: TaskSpec, examples: Sequence[dict], predictions: list[list[str]],
                        references: list[list[str]], language: str) -> list[dict[str, Any]]:
        """Gold and predicted tag sequences (with the words); correct = every tag of the sentence right."""
        return [{"example_index": i, "example_id": example_id(ex, i), "tokens": list(ex["tokens"]), "gold": r,
                 "prediction": p, "correct": p == r}
                for i, (ex, p, r) in enumerate(zip(examples, predictions, references, strict=True))]
