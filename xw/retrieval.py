"""Sentence retrieval straight from an encoder (BUCC / Tatoeba): no fine-tuning.

Sentences are mean-pooled over a middle layer (xtreme PR 104: not CLS, not the top),
chosen as a fraction of the depth so the choice scales with model size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from xw import metrics as xw_metrics
from xw.featurize import collate, sequential_batches
from xw.kinds.base import Scores
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
                       device: torch.device) -> Scores:
    """Score one language pair: Tatoeba accuracy (both directions; ``task.retrieval_query`` picks the primary),
    or BUCC F1 of XTREME's 'max'-mode mining at the dev-chosen threshold; with the prediction rows of
    :func:`_directed_accuracy` / :func:`_bucc_rows`."""

    def vectors(data: RetrievalSet) -> tuple[torch.Tensor, torch.Tensor]:
        return (embed(model, tokenizer, data.source_texts, layer, max_length, device),
                embed(model, tokenizer, data.target_texts, layer, max_length, device))

    if task.metric == "tatoeba_accuracy":
        src, tgt = vectors(test)
        to_en, to_rows = _directed_accuracy(src, tgt, test.source_ids, test.target_ids, dict(test.gold), "to_en")
        from_en, from_rows = _directed_accuracy(tgt, src, test.target_ids, test.source_ids,
                                                {t: s for s, t in test.gold}, "from_en")
        primary = from_en if task.retrieval_query == "target" else to_en
        return Scores({"accuracy": primary, "accuracy_to_en": to_en, "accuracy_from_en": from_en}, to_rows + from_rows)
    if task.metric == "bucc_f1":
        threshold_set = dev if dev is not None else test

        def embed_texts(texts: list[str]) -> torch.Tensor:
            return embed(model, tokenizer, texts, layer, max_length, device)

        candidates = _candidates(threshold_set, embed_texts)
        threshold = xw_metrics.bucc_optimize(candidates, set(threshold_set.gold))
        if threshold_set is not test:  # margin scoring is the costly part: only redo it for a new set
            candidates = _candidates(test, embed_texts)
        result = xw_metrics.bucc_f1(candidates, set(test.gold), threshold)
        return Scores({**result, "threshold": float(threshold)}, _bucc_rows(candidates, test.gold, threshold))
    raise ValueError(f"task {task.name!r}: metric {task.metric!r} is not a retrieval metric")


def _directed_accuracy(queries: torch.Tensor, index: torch.Tensor, query_ids: list[str], index_ids: list[str],
                       gold_of: dict[str, str], direction: str) -> tuple[float, list[dict]]:
    """Tatoeba accuracy of one direction: each query with a gold pair against its cosine nearest neighbour;
    with one prediction row per query (``direction`` 'to_en' / 'from_en' names the metric row it backs)."""
    position = {iid: i for i, iid in enumerate(index_ids)}
    rows = [i for i, qid in enumerate(query_ids) if qid in gold_of]
    predicted = tatoeba(queries[rows], index)
    gold = [position[gold_of[query_ids[i]]] for i in rows]
    predictions = [{"direction": direction, "example_index": i, "example_id": query_ids[i],
                    "gold": index_ids[g], "prediction": index_ids[p], "gold_index": g, "predicted_index": p,
                    "correct": p == g} for i, p, g in zip(rows, predicted, gold, strict=True)]
    return xw_metrics.tatoeba_accuracy(predicted, gold)["accuracy"], predictions


def _bucc_rows(candidates: list[tuple[str, str, float]], gold: list[tuple[str, str]], threshold: float) -> list[dict]:
    """One row per pair that is mined at ``threshold`` or gold: a mined pair has a ``prediction``, a gold pair a
    ``gold``, a pair with both is ``correct`` (precision = correct / mined, recall = correct / gold)."""
    mined = xw_metrics.bucc_extract(candidates, threshold)
    gold_pairs = {(str(s), str(t)) for s, t in gold}
    scores: dict[tuple[str, str], float] = {}
    for s, t, v in candidates:  # a pair mined twice keeps its best score, as bucc_extract does
        scores[(str(s), str(t))] = max(float(v), scores.get((str(s), str(t)), float(v)))
    return [{"direction": "to_en", "example_index": i, "example_id": s, "gold": t if (s, t) in gold_pairs else "",
             "prediction": t if (s, t) in mined else "", "score": scores.get((s, t)),
             "correct": (s, t) in mined and (s, t) in gold_pairs}
            for i, (s, t) in enumerate(sorted(mined | gold_pairs))]


def mine_max(source: torch.Tensor, target: torch.Tensor, k: int = 4) -> list[tuple[int, int, float]]:
    """XTREME/LASER ``mine_bitext`` in 'max' mode, ratio margin, on L2-normalised unique sentences.

    Each side's k nearest neighbours give the forward and backward candidates and the margin
    denominators; every source's best forward and every target's best backward candidate are pooled,
    sorted by score, and taken greedily when neither sentence was taken before; scores > 0 are kept.
    """
    sims = source @ target.T
    fwd_sim, fwd_ind = sims.topk(min(k, target.shape[0]), dim=1)
    bwd_sim, bwd_ind = sims.T.topk(min(k, source.shape[0]), dim=1)
    src_mean, tgt_mean = fwd_sim.mean(1), bwd_sim.mean(1)
    fwd = fwd_sim / ((src_mean[:, None] + tgt_mean[fwd_ind]) / 2)
    bwd = bwd_sim / ((tgt_mean[:, None] + src_mean[bwd_ind]) / 2)
    fwd_best = fwd_ind.gather(1, fwd.argmax(1, keepdim=True)).squeeze(1).tolist()
    bwd_best = bwd_ind.gather(1, bwd.argmax(1, keepdim=True)).squeeze(1).tolist()
    pairs = [(i, j, s) for i, (j, s) in enumerate(zip(fwd_best, fwd.max(1).values.tolist(), strict=True))]
    pairs += [(i, j, s) for j, (i, s) in enumerate(zip(bwd_best, bwd.max(1).values.tolist(), strict=True))]
    seen_src: set[int] = set()
    seen_tgt: set[int] = set()
    mined = []
    for i, j, score in sorted(pairs, key=lambda p: -p[2]):  # stable: ties keep forward-first order
        if i not in seen_src and j not in seen_tgt:
            seen_src.add(i)
            seen_tgt.add(j)
            if score > 0:
                mined.append((i, j, score))
    return mined


def _unique_ids(ids: list[str], texts: list[str]) -> dict[str, str]:
    """text -> id for texts that occur once (utils_retrieve.read_sent2id drops repeated sentences)."""
    counts = Counter(texts)
    return {text: sid for sid, text in zip(ids, texts, strict=True) if counts[text] == 1}


def _candidates(data: RetrievalSet, embed_texts: Callable[[list[str]], torch.Tensor]) -> list[tuple[str, str, float]]:
    """Mined (source_id, target_id, margin) as XTREME: duplicate sentences merged before mining."""
    src_texts, tgt_texts = list(dict.fromkeys(data.source_texts)), list(dict.fromkeys(data.target_texts))
    src_id, tgt_id = _unique_ids(data.source_ids, data.source_texts), _unique_ids(data.target_ids, data.target_texts)
    mined = mine_max(embed_texts(src_texts), embed_texts(tgt_texts))
    return [(src_id[src_texts[i]], tgt_id[tgt_texts[j]], score) for i, j, score in mined
            if src_texts[i] in src_id and tgt_texts[j] in tgt_id]
