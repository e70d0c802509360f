"""`xw plan`: what a study will cost before it runs, and what it cost after.

Training FLOPs use the standard 6 x parameters x tokens; GPU-hours divide by an assumed
sustained rate (peak bf16 x MFU), both printed so the assumption is visible. The measured side
reads each executed cell notebook's papermill duration, so cells that write no result rows
(an intermediate cell without retrieval targets) still count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from xw.cells import expand_grid
from xw.checkpoints import pretrained_source
from xw.errors import ParameterError, XWError
from xw.memory import GIB, ranks_needed, rung_memory, usable_bytes
from xw.params import MULTI, NONE, Study, TrainConfig
from xw.tasks import get_task

SUBWORDS_PER_WORD = 1.4  # used only when the scale's tokenizer cannot be loaded

# The published configs of the XLM-R ladder (the hub's config.json of each id), so that `xw plan`
# works before anything is downloaded; the parameters are still counted from the config.
KNOWN_CONFIGS: dict[str, tuple[str, dict[str, int]]] = {
    "xlm-roberta-base": ("xlm-roberta", {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
                                         "intermediate_size": 3072, "vocab_size": 250002}),
    "xlm-roberta-large": ("xlm-roberta", {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16,
                                          "intermediate_size": 4096, "vocab_size": 250002}),
    "facebook/xlm-roberta-xl": ("xlm-roberta-xl", {"hidden_size": 2560, "num_hidden_layers": 36,
                                                   "num_attention_heads": 32, "intermediate_size": 10240,
                                                   "vocab_size": 250880}),
    "facebook/xlm-roberta-xxl": ("xlm-roberta-xl", {"hidden_size": 4096, "num_hidden_layers": 48,
                                                    "num_attention_heads": 32, "intermediate_size": 16384,
                                                    "vocab_size": 250880}),
    # parameters/one-gpu.yaml's small rungs (hub config.json: XLMRobertaModel, hidden 384, 12 heads)
    **{f"nreimers/mMiniLMv2-L{n}-H384-distilled-from-XLMR-Large": (
        "xlm-roberta", {"hidden_size": 384, "num_hidden_layers": n, "num_attention_heads": 12,
                        "intermediate_size": 1536, "vocab_size": 250002}) for n in (6, 12)},
}
MULTIPLE_CHOICE_SEQUENCES = 5  # memory bound for a multiple-choice example: CommonsenseQA's 5 choices, the most


@dataclass
class TaskSize:
    examples: int
    tokens_per_example: float
    exact: bool  # measured with the scale's tokenizer, or estimated from words


def _text_of(example: dict) -> str:
    if "tokens" in example:
        return " ".join(example["tokens"])
    parts = [example.get(k) or "" for k in ("text", "text_pair", "question", "context")]
    parts += list(example.get("choices", []))
    return " ".join(parts)


def task_size(study: Study, task_name: str, tokenizer) -> TaskSize | None:
    """English training examples and mean tokens per example (a sample of 200), or None if no data."""
    from xw.data import load_examples

    task = get_task(task_name)
    config = study.train_config(task_name)
    try:
        examples = load_examples(study, task, task.train_split or "train", "en", config.max_train_examples)
    except Exception:  # noqa: BLE001 - plan must print whatever it can
        return None
    if not examples:
        return None
    sample = [_text_of(ex) for ex in examples[:200]]
    if tokenizer is not None:
        raw = [len(ids) for ids in tokenizer(sample)["input_ids"]]
    else:
        raw = [SUBWORDS_PER_WORD * len(s.split()) + 2 for s in sample]
    # tokens the model sees per example: truncated or (QA) windowed, times its sequences (multiple choice)
    kind = task.task_kind
    sequences = kind.sequences_per_example(examples)
    lengths = [kind.trained_length(n, config.max_length, config.doc_stride) * sequences for n in raw]
    return TaskSize(len(examples), sum(lengths) / len(lengths), tokenizer is not None)


def data_error(study: Study, task_name: str) -> str | None:
    """Why ``task_size`` found no English training data for a task: the loader's own message (it names
    where it looked), for ``xw plan`` to refuse an estimate that would leave the task out; None when the
    data loads (an empty training split is not an error of where the data lives)."""
    from xw.data import load_examples

    task = get_task(task_name)
    try:
        load_examples(study, task, task.train_split or "train", "en", study.train_config(task_name).max_train_examples)
    except Exception as err:  # noqa: BLE001 - any loader failure is the reason shown
        return f"{type(err).__name__}: {' '.join(str(err).split())}"
    return None


def scale_parameters(study: Study, scale) -> int:
    """Encoder parameters, counted from the config: the checkpoint's, a known hub config, or the mini rung's."""
    from xw.models import count_parameters_from_config

    source = pretrained_source(study, scale)
    if scale.is_mini:
        return count_parameters_from_config(source) if Path(source).exists() else _mini_params(study, scale)
    if scale.hub in KNOWN_CONFIGS and not Path(source).exists():
        model_type, fields = KNOWN_CONFIGS[scale.hub]
        return _count(model_type, {**fields, "num_hidden_layers": _kept(scale, fields["num_hidden_layers"])})
    return count_parameters_from_config(source, scale.layers_kept)


def scale_shape(study: Study, scale) -> tuple[int, int]:
    """(hidden size, layers) of a rung, for its activation memory: the mini architecture, a known hub
    config, or the checkpoint's config.json."""
    if scale.is_mini:
        return scale.hidden, scale.layers
    source = pretrained_source(study, scale)
    if scale.hub in KNOWN_CONFIGS and not Path(source).exists():
        fields = KNOWN_CONFIGS[scale.hub][1]
        return fields["hidden_size"], _kept(scale, fields["num_hidden_layers"])
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(source)
    except OSError:
        raise XWError(f"{study.path}: the config of rung {scale.name!r} ({source}) is neither a local checkpoint nor "
                      "known to xw/plan.py KNOWN_CONFIGS; download it (`hf download <id>`) or add "
                      "its config there") from None
    return config.hidden_size, _kept(scale, config.num_hidden_layers)


def _kept(scale, depth: int) -> int:
    """The layers a rung trains: its layers_kept (checked against the checkpoint's depth), else all."""
    if scale.layers_kept is None:
        return depth
    from xw.models import checked_layers_kept

    return checked_layers_kept(scale.hub or scale.path or scale.name, scale.layers_kept, depth)


def _count(model_type: str, fields: dict[str, int]) -> int:
    from transformers import AutoConfig

    from xw.models import count_encoder_parameters

    return count_encoder_parameters(
        AutoConfig.for_model(model_type, max_position_embeddings=514, type_vocab_size=1, **fields))


def _tokenizer_or_none(source: str):
    from xw.models import load_tokenizer

    try:
        return load_tokenizer(source)
    except Exception:  # noqa: BLE001 - offline, or not pretrained yet: estimate from words
        return None


def plan(study: Study, peak_tflops: float = 989.0, mfu: float = 0.4) -> pd.DataFrame:
    """One row per scale: cells, trainings, training tokens, FLOPs, estimated GPU-hours.

    Intermediate checkpoints count once per (scale, intermediate task, seed), as the cache
    trains them, however many target cells fine-tune them.
    """
    cells = expand_grid(study)
    tasks = sorted(t for t in set(study.multi_task_members) | set(study.target_tasks)
                   if get_task(t).task_kind.trained)
    word_sizes: dict[str, TaskSize | None] = {}  # one data load per task for every scale without a tokenizer
    rows = []
    for scale in study.ladder:
        params = scale_parameters(study, scale)
        tokenizer = _tokenizer_or_none(pretrained_source(study, scale))
        if tokenizer is None:
            word_sizes = word_sizes or {t: task_size(study, t, None) for t in tasks}
            sizes = word_sizes
        else:
            sizes = {t: task_size(study, t, tokenizer) for t in tasks}
        scale_cells = [c for c in cells if c.scale == scale.name]
        intermediate_trainings = [c for c in scale_cells if c.kind == "intermediate" and c.intermediate != NONE]
        target_trainings = [c for c in scale_cells if c.kind == "target"]
        # (tasks trained together, the config of that training loop): Study.intermediate_recipe decides both
        recipes = [study.intermediate_recipe(c.intermediate) for c in intermediate_trainings]
        trainings = [(recipe.members, recipe.loop) for recipe in recipes]
        trainings += [((c.target or "",), study.train_config(c.target or "")) for c in target_trainings]
        tokens, unknown = 0.0, set()
        for members, loop in trainings:
            known = [(m, sizes[m]) for m in members if sizes.get(m) is not None]
            unknown.update(m for m in members if sizes.get(m) is None)
            if not known:
                continue
            epochs = loop.epochs
            if loop.max_steps:  # the steps are shared by the members in proportion to their size
                epochs = loop.max_steps * loop.batch_size / max(1, sum(size.examples for _, size in known))
            tokens += sum(size.examples * epochs * size.tokens_per_example for _, size in known)
        flops = 6.0 * params * tokens
        rows.append({
            "scale": scale.name, "params": params, "cells": len(scale_cells),
            "intermediate_trainings": len(intermediate_trainings), "target_trainings": len(target_trainings),
            "training_tokens": int(tokens), "train_flops": flops,
            "est_gpu_hours": flops / (peak_tflops * 1e12 * mfu) / 3600,
            "token_counts": "tokenizer" if tokenizer is not None else "word estimate",
            "missing_data": ", ".join(sorted(unknown)),
        })
    return pd.DataFrame(rows)


def _loops(study: Study) -> list[tuple[str, TrainConfig, float]]:
    """(label, loop config, tokens per micro-batch of the whole training) of every trained loop of the study."""
    def sequence(task: str) -> tuple[int, int]:  # (sequences, length) of one example at this task's own length
        return (MULTIPLE_CHOICE_SEQUENCES if get_task(task).kind == "multiple_choice" else 1,
                study.train_config(task).max_length)

    loops = []
    for name in (*study.intermediate_tasks, *study.target_tasks):
        members = study.multi_task_members if name == MULTI else (name,)
        if name == NONE or not all(get_task(m).task_kind.trained for m in members):
            continue
        config = study.train_config(name)
        sequences, length = max(map(sequence, members), key=lambda sl: sl[0] * sl[1])
        micro = config.batch_size // config.grad_accumulation
        label = f"{name} {micro}x{sequences}x{length}" if sequences > 1 else f"{name} {micro}x{length}"
        loops.append((label, config, micro * sequences * length))
    return loops


def memory(study: Study) -> pd.DataFrame:
    """One row per rung: memory per GPU (GiB) for its largest step, with and without activation checkpointing,
    the GPUs it declares, the fewest it needs, and whether it fits (xw.memory has the model)."""
    loops, gpu = _loops(study), study.executor.gpu_memory_gb
    # rank counts that split every loop's micro-batches evenly (xw.study.check_ranks refuses any other)
    allowed = [n for n in range(1, 1 + max((c.batch_size for _, c, _ in loops), default=1))
               if all(c.batch_size % (n * c.grad_accumulation) == 0 for _, c, _ in loops)]
    rows = []
    for scale in study.ladder:
        params, (hidden, layers) = scale_parameters(study, scale), scale_shape(study, scale)
        worst, needed = None, 1
        for name, config, tokens in loops:
            checkpointing = scale.activation_checkpointing or config.activation_checkpointing
            estimate = rung_memory(params, hidden, layers, tokens, scale.ranks, checkpointing)
            if worst is None or estimate.total > worst[1].total:
                worst = (name, estimate, config)
            fewest = ranks_needed(params, hidden, layers, tokens, checkpointing, gpu, allowed)
            needed = None if fewest is None or needed is None else max(needed, fewest)
        if worst is None:  # nothing trains: evaluation only
            estimate, name = rung_memory(params, hidden, layers, 0, scale.ranks, False), ""
        else:
            name, estimate, _ = worst
        rows.append({
            "scale": scale.name, "params": params, "gpus": scale.gpus, "nodes": scale.nodes,
            "largest_step": name,
            "states_gib": estimate.states / GIB, "activations_gib": estimate.activations_plain / GIB,
            "checkpointed_gib": estimate.activations_checkpointed / GIB,
            "checkpointing": estimate.checkpointing, "per_gpu_gib": estimate.total / GIB,
            "gpus_needed": needed, "fits": estimate.total <= usable_bytes(gpu),
        })
    return pd.DataFrame(rows)


def check_fits(study: Study, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """``memory(study)``, or one ParameterError naming the first rung that cannot fit its declared GPUs and the fix."""
    table = memory(study) if table is None else table
    usable = usable_bytes(study.executor.gpu_memory_gb) / GIB
    for i, row in enumerate(table.itertuples()):
        if row.fits:
            continue
        fixes = []
        if not row.checkpointing and row.states_gib + row.checkpointed_gib <= usable:
            fixes.append(f"activation_checkpointing: true ({row.states_gib + row.checkpointed_gib:.1f} GiB per GPU)")
        if row.gpus_needed is not None:
            fixes.append(f"gpus: {row.gpus_needed} (ranks = gpus x nodes)")
        fixes.append("executor.gpu_memory_gb of larger GPUs, if the cluster has them")
        raise ParameterError(
            f"{study.path}: key 'models.ladder[{i}]': rung {row.scale!r} needs {row.per_gpu_gib:.1f} GiB per GPU "
            f"(states {row.states_gib:.1f} + activations "
            f"{row.checkpointed_gib if row.checkpointing else row.activations_gib:.1f} for {row.largest_step} "
            f"over {row.gpus * row.nodes} rank(s)), but executor.gpu_memory_gb {study.executor.gpu_memory_gb:g} "
            f"leaves {usable:.1f} GiB; set " + ", or ".join(fixes))
    return table


def reuse_summary(study: Study) -> dict[str, int]:
    """Cells vs trainings: what the intermediate-checkpoint cache saves on this grid."""
    cells = expand_grid(study)
    inter = [c for c in cells if c.kind == "intermediate"]
    targets = [c for c in cells if c.kind == "target"]
    checkpoints = sum(c.intermediate != NONE for c in inter)
    return {
        "cells": len(cells), "intermediate_cells": len(inter), "target_cells": len(targets),
        "intermediate_trainings": checkpoints, "target_trainings": len(targets),
        "trainings": checkpoints + len(targets),
        # without the cache every target cell would train its own intermediate model again
        "trainings_without_cache": len(targets) + sum(c.intermediate != NONE for c in targets)
        + sum(c.intermediate != NONE for c in inter),
    }


def _mini_params(study: Study, scale) -> int:
    """Parameters of a not-yet-pretrained mini rung: the config its pretraining will use (xw.pretrain)."""
    from xw.miniworld.tokenizer import build_vocab
    from xw.miniworld.world import get_world
    from xw.models import count_encoder_parameters
    from xw.pretrain import mini_config

    config = mini_config(vocab_size=len(build_vocab(get_world(study.data.world_seed))), layers=scale.layers,
                         hidden=scale.hidden, heads=scale.heads,
                         intermediate_size=scale.intermediate_size or 4 * scale.hidden,
                         max_length=study.pretrain.max_length)
    return count_encoder_parameters(config)


def _notebook_seconds(path: Path) -> float | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        return None
    duration = meta.get("duration")
    return float(duration) if duration is not None and not meta.get("exception") else None


def measured(study: Study) -> pd.DataFrame:
    """Hours actually spent per scale on finished cells (papermill's duration, else the result's wall time)."""
    from xw.cells import is_done
    from xw.layout import executed_notebook, result_path

    seconds: dict[str, float] = {}
    finished: dict[str, int] = {}
    for cell in expand_grid(study):
        if not is_done(study, cell):
            continue
        spent = _notebook_seconds(executed_notebook(study, cell.id))
        if spent is None:  # run with `xw run-cell`: the kernels' own wall time
            walls = pd.read_csv(result_path(study, cell), usecols=["wall_seconds"])["wall_seconds"]
            spent = float(walls.max()) if len(walls) else 0.0
        seconds[cell.scale] = seconds.get(cell.scale, 0.0) + spent
        finished[cell.scale] = finished.get(cell.scale, 0) + 1
    return pd.DataFrame({"scale": list(seconds), "measured_hours": [v / 3600 for v in seconds.values()],
                         "finished_cells": [finished[s] for s in seconds]})
