"""Probe: how far above chance does each mini-world target transfer, zero-shot, per language?

Runs cells of a study (default ``parameters/demo.yaml``) through the same kernels as ``xw grid``
(``xw.cells.run_cell``: pretraining, intermediate training, fine-tuning, evaluation, retrieval), for
the scales and targets asked, with optional overrides, and prints each language's primary score
next to a chance level computed from the test data itself. The probe writes under
``<output-root>/<study>-probe/`` and shares ``<output-root>/_cache`` with the study, so after
``make demo`` the pretrained ladder and intermediate checkpoints are reused.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/miniworld_probe.py --scales l
    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/miniworld_probe.py --scales l --targets mini-nli \\
        --set mini-nli.epochs=6 --set mini-nli.learning_rate=5e-4 --intermediate none mini-entail
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import yaml  # noqa: E402

from xw import metrics  # noqa: E402
from xw.cells import Cell, run_cell  # noqa: E402
from xw.data import data_config, load_examples, load_retrieval  # noqa: E402
from xw.params import NONE, Study  # noqa: E402
from xw.study import study_from_dict  # noqa: E402
from xw.tasks import get_task, with_label_names  # noqa: E402


def chance_level(study: Study, target: str, language: str) -> tuple[float, int]:
    """What a model without transfer scores on this language's test data (same metric, 0-100).

    classification: the majority label; tagging: every token tagged with the most frequent tag
    (all ``O`` for NER); QA: a random 1-3 word span of the context; retrieval: a random candidate.
    Returns (chance score, number of test items).
    """
    task = with_label_names(get_task(target), data_config(study))
    split = task.eval_split_for(language)
    if task.kind == "retrieval":
        n = len(load_retrieval(study, task, split, language).target_ids)
        return 100.0 / n, n
    examples = load_examples(study, task, split, language)
    if task.kind in ("classification", "multiple_choice"):
        labels = Counter(int(ex["label"]) for ex in examples)
        return 100.0 * labels.most_common(1)[0][1] / len(examples), len(examples)
    if task.kind == "tagging":
        names = task.label_names
        tags = [[names[t] if isinstance(t, int) else t for t in ex["tags"]] for ex in examples]
        majority = Counter(t for seq in tags for t in seq).most_common(1)[0][0]
        guess = [[majority] * len(seq) for seq in tags]
        return metrics.primary_value(task.metric, metrics.METRICS[task.metric](guess, tags)), len(examples)
    if task.kind == "qa":
        rng = random.Random(0)
        guesses, references = {}, {}
        for ex in examples:
            words = ex["context"].split()
            n = rng.randint(1, 3)
            start = rng.randrange(max(1, len(words) - n + 1))
            guesses[ex["id"]] = " ".join(words[start : start + n])
            references[ex["id"]] = list(ex["answers"]["text"])
        return metrics.primary_value(task.metric, metrics.METRICS[task.metric](guesses, references)), len(examples)
    raise ValueError(f"no chance level for kind {task.kind!r}")


def margin_in_standard_errors(score: float, chance: float, n: int) -> float:
    """(score - chance) / binomial standard error at chance: how surely an accuracy beats chance.

    Only meaningful for accuracy-like metrics (classification, retrieval), not for F1."""
    p = min(max(chance / 100.0, 1e-6), 1 - 1e-6)
    return (score - chance) / (100.0 * math.sqrt(p * (1 - p) / n))


def _assignment(item: str, flag: str, example: str) -> tuple[str, object]:
    """``KEY=VALUE`` from the command line, the value read as YAML (``6`` an int, ``5e-4`` a float)."""
    key, _, value = item.partition("=")
    if not key or not value:
        raise SystemExit(f"{flag} {item!r}: expected {example}")
    return key, yaml.safe_load(value)


def probe_study(args: argparse.Namespace) -> Study:
    raw = yaml.safe_load(Path(args.study).read_text())
    raw["study"] = f"{raw['study']}-probe"
    pretrain = raw["models"].setdefault("pretrain", {})
    if args.pretrain_steps:
        pretrain["steps"] = args.pretrain_steps
    if args.pretrain_batch_size:
        pretrain["batch_size"] = args.pretrain_batch_size
    for item in args.pretrain:
        key, value = _assignment(item, "--pretrain", "FIELD=VALUE, e.g. parallel=0.3")
        pretrain[key] = value
    tasks = raw.setdefault("training", {}).setdefault("tasks", {})
    for item in args.set:
        key, value = _assignment(item, "--set", "TASK.FIELD=VALUE, e.g. mini-nli.epochs=6")
        task, _, field = key.partition(".")
        if not field:
            raise SystemExit(f"--set {item!r}: expected TASK.FIELD=VALUE, e.g. mini-nli.epochs=6")
        tasks.setdefault(task, {})[field] = value
    return study_from_dict(raw, Path(args.study), args.output_root)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--study", default="parameters/demo.yaml")
    ap.add_argument("--scales", nargs="+", default=None, help="ladder rungs (default: the largest)")
    ap.add_argument("--targets", nargs="+", default=None, help="target tasks (default: the study's)")
    ap.add_argument("--intermediate", nargs="+", default=[NONE], help="intermediate tasks (default: none)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pretrain-steps", type=int, default=0, help="override the study's pretraining steps")
    ap.add_argument("--pretrain-batch-size", type=int, default=0, help="override the study's pretraining batch size")
    ap.add_argument("--pretrain", action="append", default=[], metavar="FIELD=VALUE",
                    help="override a field of models.pretrain, e.g. parallel=0.3 (repeatable)")
    ap.add_argument("--set", action="append", default=[], metavar="TASK.FIELD=VALUE",
                    help="override a training field of one task, e.g. mini-nli.epochs=6 (repeatable)")
    ap.add_argument("--output-root", default="outputs")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore", message=".*ill-defined.*")  # seqeval on a model that predicts no entity

    study = probe_study(args)
    scales = args.scales or [study.ladder[-1].name]
    targets = args.targets or list(study.target_tasks)
    chances: dict[tuple[str, str], tuple[float, int]] = {}  # the same test data for every scale and intermediate
    for scale in scales:
        params = None
        for intermediate in args.intermediate:
            print(f"== scale {scale}, intermediate {intermediate}, seed {args.seed}")
            for target in targets:
                task = get_task(target)
                kind = "intermediate" if task.kind == "retrieval" else "target"
                started = time.perf_counter()
                cell = Cell(kind, scale, intermediate, args.seed, None if kind == "intermediate" else target)
                rows = run_cell(study, cell, progress=False)
                rows = rows[rows.primary & (rows.target_task == target)]
                params = int(rows.params.iloc[0])
                scores = dict(zip(rows.language, rows.value, strict=True))
                cells = []
                for language, score in scores.items():
                    if (target, language) not in chances:
                        chances[target, language] = chance_level(study, target, language)
                    chance, n = chances[target, language]
                    z = ""
                    if task.kind in ("classification", "retrieval") and language != "en":
                        z = f", {margin_in_standard_errors(score, chance, n):+.0f} se"
                    cells.append(f"{language} {score:5.1f} (chance {chance:4.1f}{z})")
                non_en = [v for lg, v in scores.items() if lg != "en"]
                print(f"  {target:15s} " + " | ".join(cells)
                      + f" || non-en mean {sum(non_en) / max(1, len(non_en)):5.1f}"
                      + f" [{time.perf_counter() - started:.0f}s]", flush=True)
        print(f"   ({scale}: {params:,} parameters)")


if __name__ == "__main__":
    main(sys.argv[1:])
