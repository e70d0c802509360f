"""Kernels on tiny inputs with known answers: featurisation, training, evaluation, retrieval."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from xw.errors import TrainingError
from xw.evaluate import evaluate_examples
from xw.featurize import IGNORE, collate, featurize, length_grouped_batches
from xw.kinds.qa import qa_predictions
from xw.models import build_head_model, encoder_of, share_encoder
from xw.params import TrainConfig
from xw.retrieval import margin_scores, tatoeba
from xw.tasks import TaskSpec
from xw.train import train


def _task(kind: str, metric: str, labels: tuple[str, ...] = ()) -> TaskSpec:
    return TaskSpec(name=f"fake-{kind}", kind=kind, family=kind, role="target", languages=("en",),
                    metric=metric, loader=lambda *a: None, label_names=labels)


def test_tagging_labels_sit_on_first_subtoken(tiny_tokenizer):
    task = _task("tagging", "accuracy", ("O", "N", "V"))
    # "cats" -> cat ##s, "eatska" -> eats ##ka: only the first piece carries the word's label
    feats = featurize(task, [{"tokens": ["the", "cats", "eatska"], "tags": [0, 1, 2]}], tiny_tokenizer, 32)
    tokens = tiny_tokenizer.convert_ids_to_tokens(feats[0]["input_ids"])
    assert tokens == ["<s>", "the", "cat", "##s", "eats", "##ka", "</s>"]
    assert feats[0]["labels"] == [IGNORE, 0, 1, IGNORE, 2, IGNORE, IGNORE]


def test_qa_windows_cover_long_context_and_map_answers_back(tiny_tokenizer):
    task = _task("qa", "squad")
    context = " ".join(["the cat sees a dog ."] * 12 + ["alice likes paris ."] + ["a tree is big ."] * 6)
    start = context.index("paris")
    example = {"id": "q1", "question": "what does alice like ?", "context": context,
               "answers": {"text": ["paris"], "answer_start": [start]}}
    feats = featurize(task, [example], tiny_tokenizer, max_length=32, doc_stride=8, train=True)
    assert len(feats) > 3  # long context -> several windows
    hits = [f for f in feats if f["start_positions"] != 0]
    assert hits, "some window must contain the answer"
    for f in hits:
        span = tiny_tokenizer.convert_ids_to_tokens(f["input_ids"][f["start_positions"]:f["end_positions"] + 1])
        assert span == ["paris"]
    # evaluation features: logits peaked on the answer token must decode to the exact text
    eval_feats = featurize(task, [example], tiny_tokenizer, max_length=32, doc_stride=8, train=False)
    outputs = []
    for f in eval_feats:
        start_logits = np.zeros(len(f["input_ids"]))
        end_logits = np.zeros(len(f["input_ids"]))
        for k, off in enumerate(f["offset_mapping"]):
            if off is not None and off[0] == start:
                start_logits[k] = end_logits[k] = 10.0
        outputs.append((start_logits, end_logits))
    assert qa_predictions([example], eval_feats, outputs) == {"q1": "paris"}


def test_long_question_is_capped_so_the_context_keeps_room_for_the_stride(tiny_tokenizer):
    """A question longer than the window once made the fast tokenizer panic (stride >= room left)."""
    task = _task("qa", "squad")
    context = "alice likes paris . " + "the cat sees a dog . " * 10
    example = {"id": "q", "question": "who is the big red cat that sees the small blue dog ? " * 4,
               "context": context, "answers": {"text": ["paris"], "answer_start": [context.index("paris")]}}
    feats = featurize(task, [example], tiny_tokenizer, max_length=32, doc_stride=8, train=True)
    assert all(len(f["input_ids"]) <= 32 for f in feats)
    first = tiny_tokenizer.convert_ids_to_tokens(feats[0]["input_ids"])
    assert first.index("</s>") == 1 + 16  # question cut to max_length // 2 tokens
    hit = next(f for f in feats if f["start_positions"] != 0)
    assert tiny_tokenizer.convert_ids_to_tokens(hit["input_ids"][hit["start_positions"]]) == "paris"


def test_unanswerable_question_points_at_cls(tiny_tokenizer):
    task = _task("qa", "squad")
    example = {"id": "q", "question": "who ?", "context": "the cat runs .", "answers": {"text": [], "answer_start": []}}
    feat = featurize(task, [example], tiny_tokenizer, 32, train=True)[0]
    assert (feat["start_positions"], feat["end_positions"]) == (0, 0)


def test_multiple_choice_encodes_every_choice_with_context(tiny_tokenizer):
    task = _task("multiple_choice", "accuracy")
    feats = featurize(task, [{"context": "alice sees a cat .", "choices": ["yes", "no", "a big dog"], "label": 2}],
                      tiny_tokenizer, 32)
    batch = collate(feats, tiny_tokenizer.pad_token_id)
    assert batch["input_ids"].shape[:2] == (1, 3)
    assert batch["labels"].tolist() == [2]


def test_collate_pads_dynamically_and_masks():
    batch = collate([{"input_ids": [0, 5, 2], "labels": [IGNORE, 1, IGNORE]}, {"input_ids": [0, 2], "labels": [IGNORE, IGNORE]}],
                    pad_id=1)
    assert batch["input_ids"].tolist() == [[0, 5, 2], [0, 2, 1]]
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["labels"].tolist() == [[IGNORE, 1, IGNORE], [IGNORE, IGNORE, IGNORE]]


def test_length_grouped_batches_cover_everything_once():
    feats = [{"input_ids": [0] * n} for n in range(1, 101)]
    batches = length_grouped_batches(feats, 8, random.Random(0), group=4)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(100))
    spread = [max(len(feats[i]["input_ids"]) for i in b) - min(len(feats[i]["input_ids"]) for i in b) for b in batches]
    # 8 of 32 sorted random lengths span ~25; a random batch of 8 spans ~78
    assert np.mean(spread) < 40


def _separable_examples(n: int = 64) -> list[dict]:
    rng = random.Random(0)
    out = []
    for _ in range(n):
        label = rng.randint(0, 1)
        word = rng.choice(["cat", "dog", "tree"])
        out.append({"text": f"the {word} is {'red' if label else 'blue'} .", "label": label})
    return out


def test_train_learns_a_separable_task(tiny_checkpoint, tiny_tokenizer):
    task = _task("classification", "accuracy", ("blue", "red"))
    examples = _separable_examples()
    model = build_head_model(tiny_checkpoint, task)
    config = TrainConfig(learning_rate=3e-3, batch_size=16, epochs=8, max_length=16, warmup_ratio=0.1)
    feats = featurize(task, examples, tiny_tokenizer, 16)
    stats = train({task.name: (model, feats)}, config, seed=0, pad_id=tiny_tokenizer.pad_token_id,
                  device=torch.device("cpu"), progress=False)
    assert stats.steps == 32 and stats.examples == 32 * 16
    result = evaluate_examples(model, tiny_tokenizer, task, examples, "en", config, torch.device("cpu"))
    assert result["accuracy"] == 100.0


def test_multi_task_training_shares_one_encoder(tiny_checkpoint, tiny_tokenizer):
    cls = _task("classification", "accuracy", ("blue", "red"))
    tag = _task("tagging", "accuracy", ("O", "X"))
    m1, m2 = build_head_model(tiny_checkpoint, cls), build_head_model(tiny_checkpoint, tag)
    share_encoder([m1, m2])
    assert encoder_of(m1) is encoder_of(m2)
    before = encoder_of(m1).embeddings.word_embeddings.weight.detach().clone()
    feats1 = featurize(cls, _separable_examples(16), tiny_tokenizer, 16)
    feats2 = featurize(tag, [{"tokens": ["the", "cat"], "tags": [0, 1]}] * 16, tiny_tokenizer, 16)
    stats = train({"a": (m1, feats1), "b": (m2, feats2)}, TrainConfig(learning_rate=1e-3, batch_size=8, epochs=1),
                  seed=0, pad_id=tiny_tokenizer.pad_token_id, device=torch.device("cpu"), progress=False)
    assert stats.steps == 4  # 2 batches per task per epoch
    assert not torch.equal(before, encoder_of(m2).embeddings.word_embeddings.weight)


def test_multi_task_sharing_keeps_the_pooler_a_multiple_choice_head_needs(tiny_checkpoint, tiny_tokenizer):
    """Classification heads build their encoder without a pooler; the shared one must keep it for MC."""
    cls = _task("classification", "accuracy", ("blue", "red"))
    mc = _task("multiple_choice", "accuracy")
    m1, m2 = build_head_model(tiny_checkpoint, cls), build_head_model(tiny_checkpoint, mc)
    share_encoder([m1, m2])
    assert encoder_of(m1) is encoder_of(m2) and encoder_of(m1).pooler is not None
    feats = featurize(mc, [{"context": "alice sees a cat .", "choices": ["yes", "no"], "label": 1}] * 4,
                      tiny_tokenizer, 16)
    stats = train({"a": (m1, featurize(cls, _separable_examples(8), tiny_tokenizer, 16)), "b": (m2, feats)},
                  TrainConfig(learning_rate=1e-3, batch_size=4, epochs=1), seed=0,
                  pad_id=tiny_tokenizer.pad_token_id, device=torch.device("cpu"), progress=False)
    assert stats.steps == 3


def test_nan_loss_stops_with_a_clear_error(tiny_checkpoint, tiny_tokenizer):
    task = _task("classification", "accuracy", ("blue", "red"))
    model = build_head_model(tiny_checkpoint, task)
    with torch.no_grad():
        model.classifier.out_proj.weight.fill_(float("nan"))
    feats = featurize(task, _separable_examples(16), tiny_tokenizer, 16)
    with pytest.raises(TrainingError, match="learning_rate"):
        train({task.name: (model, feats)}, TrainConfig(batch_size=8, epochs=1), seed=0,
              pad_id=tiny_tokenizer.pad_token_id, device=torch.device("cpu"), progress=False)


def test_freeze_embeddings_keeps_word_embeddings(tiny_checkpoint, tiny_tokenizer):
    task = _task("classification", "accuracy", ("blue", "red"))
    model = build_head_model(tiny_checkpoint, task)
    before = encoder_of(model).embeddings.word_embeddings.weight.detach().clone()
    feats = featurize(task, _separable_examples(16), tiny_tokenizer, 16)
    train({task.name: (model, feats)}, TrainConfig(batch_size=8, epochs=1, freeze_embeddings=True), seed=0,
          pad_id=tiny_tokenizer.pad_token_id, device=torch.device("cpu"), progress=False)
    assert torch.equal(before, encoder_of(model).embeddings.word_embeddings.weight)


def test_tatoeba_nearest_neighbour_and_margin():
    src = torch.nn.functional.normalize(torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]), dim=-1)
    tgt = torch.nn.functional.normalize(torch.tensor([[0.0, 1.0], [1.0, 0.1], [1.0, 0.9]]), dim=-1)
    assert tatoeba(src, tgt) == [1, 0, 2]
    indices, scores = margin_scores(src, tgt, k=1)
    # with k=1 the margin is cos / mean(best cos of each side); exact match on both sides gives 1
    assert indices.tolist() == [1, 0, 2]
    assert scores[1].item() == pytest.approx(1.0)


def test_bf16_on_a_cpu_without_native_bf16_falls_back_to_fp32_with_a_warning():
    import contextlib

    from xw.train import autocast_context, cpu_has_native_bf16

    if cpu_has_native_bf16():
        pytest.skip("this CPU has native bf16: autocast is used there")
    with pytest.warns(UserWarning, match="no native bf16"):
        context = autocast_context(torch.device("cpu"), True)
    assert isinstance(context, contextlib.nullcontext)
    assert isinstance(autocast_context(torch.device("cpu"), False), contextlib.nullcontext)
