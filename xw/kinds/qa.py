"""Extractive QA: sliding windows over long contexts (HF's run_qa.py), a span head, best-span decoding.

Why: the QA kind's featurisation (windows with offset mappings), its prediction post-processing
(the best span over all windows of an example) and scoring in one place.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from transformers import AutoModelForQuestionAnswering, PreTrainedTokenizerBase

from xw.kinds.base import Feature, ModelKind, apply_metric, example_id
from xw.tasks import TaskSpec
from xw.tasks.kinds import QuestionAnswering

MAX_QUESTION_TOKENS = 64  # max_query_length of HF's squad_convert_examples_to_features (used by XTREME, jiant)
MAX_ANSWER_TOKENS = 30
N_BEST = 20


def truncate_questions(questions: list[str], tokenizer: PreTrainedTokenizerBase, limit: int) -> list[str]:
    """Cut each question to its first ``limit`` tokens (at a token's end offset).

    Without it a long question leaves the context less room than the stride, and the fast
    tokenizer panics ("stride must be strictly less than max_len"); XTREME's and jiant's SQuAD
    preprocessing cap the question the same way (max_query_length=64).
    """
    enc = tokenizer(questions, add_special_tokens=False, return_offsets_mapping=True)
    return [q[:offsets[limit - 1][1]] if len(offsets) > limit else q
            for q, offsets in zip(questions, enc["offset_mapping"], strict=True)]


def featurize_qa(examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase, max_length: int, doc_stride: int,
                train: bool) -> list[Feature]:
    """Sliding windows with a stride over long contexts; train: answer token span, eval: context offsets."""
    questions = truncate_questions([ex["question"].lstrip() for ex in examples], tokenizer,
                                   min(MAX_QUESTION_TOKENS, max_length // 2))
    contexts = [ex["context"] for ex in examples]
    pad_right = tokenizer.padding_side == "right"
    stride = min(doc_stride, max_length // 4)
    enc = tokenizer(
        questions if pad_right else contexts,
        contexts if pad_right else questions,
        truncation="only_second" if pad_right else "only_first",
        max_length=max_length,
        stride=stride,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
    )
    context_index = 1 if pad_right else 0
    features = []
    for i, input_ids in enumerate(enc["input_ids"]):
        example_index = enc["overflow_to_sample_mapping"][i]
        example = examples[example_index]
        sequence_ids = enc.sequence_ids(i)
        offsets = enc["offset_mapping"][i]
        feature: Feature = {"input_ids": input_ids, "example_index": example_index}
        answers = example["answers"]
        cls_index = 0
        if train:
            if not answers["answer_start"]:
                start = end = cls_index  # unanswerable (SQuAD v2.0): point at <s>
            else:
                start_char = answers["answer_start"][0]
                end_char = start_char + len(answers["text"][0])
                token_start = sequence_ids.index(context_index)
                token_end = len(sequence_ids) - 1 - sequence_ids[::-1].index(context_index)
                if not (offsets[token_start][0] <= start_char and offsets[token_end][1] >= end_char):
                    start = end = cls_index  # answer not in this window
                else:
                    while token_start < len(offsets) and offsets[token_start][0] <= start_char:
                        token_start += 1
                    start = token_start - 1
                    while offsets[token_end][1] >= end_char:
                        token_end -= 1
                    end = token_end + 1
            feature["start_positions"] = start
            feature["end_positions"] = end
        else:
            feature["offset_mapping"] = [
                o if sequence_ids[k] == context_index else None for k, o in enumerate(offsets)
            ]
        features.append(feature)
    return features


def qa_predictions(examples: Sequence[dict], features: list[Feature], outputs: list) -> dict[str, str]:
    """Best span over all windows of an example (run_qa.py's postprocess, no null answer)."""
    best: dict[int, tuple[float, str]] = {}
    for feature, (start_logits, end_logits) in zip(features, outputs, strict=True):
        index = feature["example_index"]
        context = examples[index]["context"]
        offsets = feature["offset_mapping"]
        n = len(offsets)
        starts = np.argsort(start_logits[:n])[-N_BEST:][::-1]
        ends = np.argsort(end_logits[:n])[-N_BEST:][::-1]
        for s in starts:
            for e in ends:
                if offsets[s] is None or offsets[e] is None or e < s or e - s + 1 > MAX_ANSWER_TOKENS:
                    continue
                score = float(start_logits[s] + end_logits[e])
                if index not in best or score > best[index][0]:
                    best[index] = (score, context[offsets[s][0]:offsets[e][1]])
    return {ex["id"]: best.get(i, (0.0, ""))[1] for i, ex in enumerate(examples)}


class QAModel(ModelKind, QuestionAnswering):
    head = AutoModelForQuestionAnswering

    def featurize(self, task: TaskSpec, examples: Sequence[dict], tokenizer: PreTrainedTokenizerBase,
                  max_length: int, doc_stride: int, train: bool, label_piece: str = "first") -> list[Feature]:
        return featurize_qa(examples, tokenizer, max_length, doc_stride, train)

    def decode(self, task: TaskSpec, examples: Sequence[dict], features: list[Feature],
               outputs: list) -> tuple[dict[str, str], dict[str, list[str]]]:
        predictions = qa_predictions(examples, features, outputs)
        return predictions, {ex["id"]: list(ex["answers"]["text"]) for ex in examples}

    def prediction_rows(self, task: TaskSpec, examples: Sequence[dict], predictions: dict[str, str],
                        references: dict[str, list[str]], language: str) -> list[dict[str, Any]]:
        """The predicted answer text and every gold answer; correct = exact match and ``f1`` the question's F1,
        both under the task's own metric (its answer normalisation, MLQA's per language)."""
        rows = []
        for i, ex in enumerate(examples):
            qid = ex["id"]
            one = apply_metric(task, {qid: predictions[qid]}, {qid: references[qid]}, language)
            rows.append({"example_index": i, "example_id": example_id(ex, i), "question": ex["question"],
                         "gold": references[qid], "prediction": predictions[qid],
                         "correct": one["exact_match"] == 100.0, "f1": one["f1"]})
        return rows
