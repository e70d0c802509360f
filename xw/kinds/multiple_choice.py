"""Multiple choice: every choice encoded with the context and scored jointly (HF's run_swag.py).

Why: the multiple-choice kind's featurisation (a list of sequences per example) and scoring in one place.
"""

from __future__ import annotations

from collections.abc import Sequence

from transformers import AutoModelForMultipleChoice, PreTrainedTokenizerBase

from xw.kinds.base import Feature, ModelKind, argmax_score
from xw.tasks import TaskSpec
from xw.tasks.kinds import MultipleChoice


def featurize_multiple_choice(examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                              max_length: int) -> list[Feature]:
    features = []
    for ex in examples:
        enc = tokenizer([ex["context"]] * len(ex["choices"]), list(ex["choices"]), truncation=True,
                        max_length=max_length)
        features.append({"input_ids": enc["input_ids"], "labels": int(ex["label"])})
    return features


class MultipleChoiceModel(ModelKind, MultipleChoice):
    head = AutoModelForMultipleChoice

    def featurize(self, task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                  max_length: int, doc_stride: int, train: bool, label_piece: str = "first") -> list[Feature]:
        return featurize_multiple_choice(examples, tokenizer, max_length)

    def score(self, task: TaskSpec, examples: Sequence[dict], features: list[Feature], outputs: list,
              language: str) -> dict[str, float]:
        return argmax_score(task, examples, outputs, language)
