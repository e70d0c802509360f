"""Sentence retrieval straight from an encoder (BUCC / Tatoeba): no fine-tuning.

Sentences are mean-pooled over a middle layer (xtreme PR 104: not CLS, not the top),
chosen as a fraction of the depth so the choice scales with model size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from xw import metrics as xw_metrics
from xw.featurize import collate, sequential_batches
from xw.tasks import RetrievalSet, TaskSpec


def layer_for(model: PreTrainedModel, fraction: float) -> int:
    """Hidden-state index for a depth fraction: 0 = embeddings, num_hidden_layers = last layer."""
    return int(round(fraction * model.config.num_hidden_layers))


@torch.inference_mode()
def embed(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], layer: int,
          max_length: int, device: torch.device, batch_size: int = 64) -> torch.Tensor:
    """L2-normalised mean-pooled hidden states of ``layer`` for each text."""
    model.eval().to(device)
    encoded = tokenizer(list(texts), truncation=True, max_length=max_length)
    features = [{"input_ids": ids} for ids in encoded["input_ids"]]
    out = torch.empty(len(texts), model.config.hidden_size)
    for indices in sequential_batches(features, batch_size):
        batch = collate([features[i] for i in indices], tokenizer.pad_token_id)
        batch = {k: v.to(device) for k, v in batch.items()}
        hidden = model(**batch, output_hidden_states=True).hidden_states[layer].float()
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        out[indices] = pooled.cpu()
    return F.normalize(out, dim=-1)


def margin_scores(source: torch.Tensor, target: torch.Tensor, k: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Best target per source under the ratio margin (LASER/XTREME BUCC mining), and its score."""
    sims = source @ target.T
    k_src, k_tgt = min(k, target.shape[0]), min(k, source.shape[0])
    source_avg = sims.topk(k_src, dim=1).values.mean(1)
    target_avg = sims.topk(k_tgt, dim=0).values.mean(0)
    margin = sims / ((source_avg[:, None] + target_avg[None, :]) / 2)
    best = margin.max(dim=1)
    return best.indices, best.values


def tatoeba(source: torch.Tensor, target: torch.Tensor) -> list[int]:
    """Index of each source sentence's cosine nearest neighbour among the targets."""
    return (source @ target.T).argmax(dim=1).tolist()


def evaluate_retrieval(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, task: TaskSpec,
                       test: RetrievalSet, dev: RetrievalSet | None, layer: int, max_length: int,
                       device: torch.device) -> dict[str, float]:
    """Score one language pair: Tatoeba accuracy, or BUCC F1 at the dev-chosen threshold."""

    def vectors(data: RetrievalSet) -> tuple[torch.Tensor, torch.Tensor]:
        return (embed(model, tokenizer, data.source_texts, layer, max_length, device),
                embed(model, tokenizer, data.target_texts, layer, max_length, device))

    if task.metric == "tatoeba_accuracy":
        src, tgt = vectors(test)
        predicted = tatoeba(src, tgt)
        target_position = {tid: i for i, tid in enumerate(test.target_ids)}
        gold_of = dict(test.gold)
        gold = [target_position[gold_of[sid]] for sid in test.source_ids]
        return xw_metrics.tatoeba_accuracy(predicted, gold)
    if task.metric == "bucc_f1":
        threshold_set = dev if dev is not None else test
        candidates = _candidates(threshold_set, *vectors(threshold_set))
        threshold = xw_metrics.bucc_optimize(candidates, set(threshold_set.gold))
        if threshold_set is not test:  # margin scoring is the costly part: only redo it for a new set
            candidates = _candidates(test, *vectors(test))
        result = xw_metrics.bucc_f1(candidates, set(test.gold), threshold)
        return {**result, "threshold": float(threshold)}
    raise ValueError(f"task {task.name!r}: metric {task.metric!r} is not a retrieval metric")


def _candidates(data: RetrievalSet, src: torch.Tensor, tgt: torch.Tensor) -> list[tuple[str, str, float]]:
    indices, scores = margin_scores(src, tgt)
    return [(data.source_ids[i], data.target_ids[j], float(s))
            for i, (j, s) in enumerate(zip(indices.tolist(), scores.tolist(), strict=True))]
