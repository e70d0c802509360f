"""The evaluation kernel: predict one language's examples and score them with the task's metric.

Why: running a model over features is the same for every kind; turning its outputs into
predictions and scoring them is the kind's (:meth:`xw.kinds.ModelKind.score`), including which
metric call the task declares (MLQA's is told the answer language).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from xw.featurize import Feature, collate, featurize, sequential_batches
from xw.kinds import model_kind
from xw.kinds.base import Scores
from xw.params import TrainConfig
from xw.tasks import TaskSpec
from xw.train import autocast_context


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
                      device: torch.device) -> Scores:
    """Score a model on one language's examples: the metric's dict (0-100 scale), carrying the prediction rows."""
    features = featurize(task, examples, tokenizer, config.max_length, config.doc_stride, train=False,
                         label_piece=config.tagging_label_piece)
    outputs = predict_logits(model, features, tokenizer.pad_token_id, config.eval_batch_size, device, config.bf16)
    return model_kind(task).score(task, examples, features, outputs, language)
