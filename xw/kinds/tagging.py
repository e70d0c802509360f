"""Token tagging: the label on each word's first sub-token (HF's run_ner.py), a token-classification head.

Why: the tagging kind's featurisation, its prediction post-processing (sub-tokens back to words)
and scoring in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from transformers import AutoModelForTokenClassification, PreTrainedTokenizerBase

from xw.kinds.base import IGNORE, Feature, ModelKind, apply_metric
from xw.tasks import TaskSpec
from xw.tasks.kinds import Tagging


def featurize_tagging(examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                      max_length: int) -> list[Feature]:
    enc = tokenizer([list(ex["tokens"]) for ex in examples], is_split_into_words=True, truncation=True,
                    max_length=max_length)
    features = []
    for i, ex in enumerate(examples):
        word_ids = enc.word_ids(i)
        labels, previous = [], None
        for word in word_ids:
            if word is None or word == previous:
                labels.append(IGNORE)
            else:
                labels.append(int(ex["tags"][word]))
            previous = word
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
                  max_length: int, doc_stride: int, train: bool) -> list[Feature]:
        return featurize_tagging(examples, tokenizer, max_length)

    def score(self, task: TaskSpec, examples: Sequence[dict], features: list[Feature], outputs: list,
              language: str) -> dict[str, float]:
        predictions, references = tagging_predictions(task, examples, features, outputs)
        return apply_metric(task, predictions, references, language)
