"""The evaluation kernel: predict one language's examples and score them with the task's metric."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from xw import metrics as xw_metrics
from xw.featurize import IGNORE, Feature, collate, featurize, sequential_batches
from xw.params import TrainConfig
from xw.tasks import TaskSpec
from xw.train import autocast_context

MAX_ANSWER_TOKENS = 30
N_BEST = 20


@torch.inference_mode()
def predict_logits(model: PreTrainedModel, features: list[Feature], pad_id: int, batch_size: int,
                   device: torch.device, bf16: bool = False) -> list:
    """Model outputs per feature, in the features' order (batches are length-sorted)."""
    model.eval()
    outputs: list = [None] * len(features)
    for indices in sequential_batches(features, batch_size):
        batch = collate([features[i] for i in indices], pad_id)
        batch.pop("labels", None)
        batch = {k: v.to(device) for k, v in batch.items()}
        with autocast_context(device, bf16):
            out = model(**batch)
        if hasattr(out, "start_logits"):
            start, end = out.start_logits.float().cpu().numpy(), out.end_logits.float().cpu().numpy()
            for row, i in enumerate(indices):
                outputs[i] = (start[row], end[row])
        else:
            logits = out.logits.float().cpu().numpy()
            for row, i in enumerate(indices):
                outputs[i] = logits[row]
    return outputs


def evaluate_examples(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, task: TaskSpec,
                      examples: Sequence[dict], language: str, config: TrainConfig,
                      device: torch.device) -> dict[str, float]:
    """Score a model on one language's examples; returns the metric's dict (0-100 scale)."""
    features = featurize(task, examples, tokenizer, config.max_length, config.doc_stride, train=False)
    outputs = predict_logits(model, features, tokenizer.pad_token_id, config.eval_batch_size, device, config.bf16)
    if task.kind in ("classification", "multiple_choice"):
        predictions = [int(np.argmax(o)) for o in outputs]
        references = [int(ex["label"]) for ex in examples]
        return xw_metrics.METRICS[task.metric](predictions, references)
    if task.kind == "tagging":
        predictions, references = tagging_predictions(task, examples, features, outputs)
        return xw_metrics.METRICS[task.metric](predictions, references)
    if task.kind == "qa":
        predictions = qa_predictions(examples, features, outputs)
        references = {ex["id"]: list(ex["answers"]["text"]) for ex in examples}
        if task.metric == "mlqa":
            return xw_metrics.mlqa(predictions, references, language)
        return xw_metrics.METRICS[task.metric](predictions, references)
    raise ValueError(f"task {task.name!r}: kind {task.kind!r} is evaluated by xw.retrieval")


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
