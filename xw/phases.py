"""The three phases of Phang et al. 2020 as functions over a study: pretrain, intermediate, target.

Each returns tidy result rows; checkpoints are cached (xw.checkpoints) so an intermediate
model is trained once per (scale, intermediate task, seed) however many targets use it.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import torch

from xw import checkpoints, layout, preemption
from xw.atomic import now
from xw.data import data_config, evaluation_languages, load_examples, load_retrieval
from xw.distributed import DONE, ENCODER, MODEL, JobTask
from xw.errors import DataNotFoundError, XWError
from xw.evaluate import evaluate_examples
from xw.feature_cache import cached_featurize, features_dir
from xw.kinds import model_kind
from xw.launch import train_on_ranks
from xw.layout import ranks_dir, resume_dir
from xw.models import (
    build_head_model,
    count_parameters_from_config,
    describe_device,
    load_encoder,
    load_tokenizer,
    pick_device,
    save_encoder,
    share_encoder,
)
from xw.params import NONE, ModelScale, Study
from xw.provenance import provenance_columns
from xw.results import git_commit, hyperparameters_json, metric_rows, prediction_rows
from xw.retrieval import evaluate_retrieval, layer_for
from xw.tasks import get_task, with_label_names
from xw.tasks.revision import Reads, merged, recording, revision_json, summary
from xw.tracking import CurveWriter, read_summary
from xw.train import TrainStats, train
from xw.train_state import latest_step

log = logging.getLogger("xw")


def ensure_pretrained(study: Study, scale: ModelScale, progress: bool = True) -> str:
    """Phase (i): a hub id / local path as given, or pretrain the mini-world MLM once (cached)."""
    source = checkpoints.pretrained_source(study, scale)
    if not scale.is_mini or checkpoints.is_complete(Path(source)):
        return source
    from xw.pretrain import pretrain_mlm

    pretrain_mlm(
        world_seed=study.data.world_seed, layers=scale.layers, hidden=scale.hidden, heads=scale.heads,
        intermediate_size=scale.intermediate_size or 4 * scale.hidden, steps=study.pretrain.steps,
        batch_size=study.pretrain.batch_size, learning_rate=study.pretrain.learning_rate, seed=0,
        out_dir=Path(source), max_length=study.pretrain.max_length, progress=progress,
        parallel=study.pretrain.parallel, code_switch=study.pretrain.code_switch,
        curve_options=_tracking(study, f"{scale.name}-pretrain"),
    )
    return source


def _tracking(study: Study, run_name: str) -> dict:
    """CurveWriter's options beyond TensorBoard: the study's tracking backends, the run's name, their store."""
    return {"tracking": study.tracking, "run_name": run_name, "store": layout.tracking_store(study)}


def ensure_intermediate(study: Study, scale: ModelScale, intermediate: str, seed: int,
                        progress: bool = True) -> tuple[str, TrainStats | None]:
    """Phase (ii): train on the intermediate task(s) once per (scale, task, seed); 'none' = phase (i)."""
    source = ensure_pretrained(study, scale, progress)
    if intermediate == NONE:
        return source, None
    out_dir = checkpoints.intermediate_dir(study, scale, intermediate, seed)
    if checkpoints.is_complete(out_dir):
        return str(out_dir), None
    recipe = study.intermediate_recipe(intermediate)
    device = pick_device()
    stats: dict[str, TrainStats] = {}

    resume = out_dir.with_name(f"{out_dir.name}.resume")  # mid-cell checkpoints; gone once the build finishes

    def build(tmp: Path) -> dict:
        tokenizer = load_tokenizer(source, scale.revision)
        # beside the mid-cell checkpoints while training (a resumed build continues the curve), then moved
        # into the checkpoint, with which it stays
        curves = CurveWriter(resume / "curves", tag="intermediate",
                             **_tracking(study, f"{scale.name}-{intermediate}-seed{seed}"),
                             resume_from=0 if scale.ranks > 1 else latest_step(resume))
        members = []
        for name, config in zip(recipe.members, recipe.member_configs, strict=True):
            task = with_label_names(get_task(name), data_config(study))
            examples = load_examples(study, task, task.train_split or "train", "en", config.max_train_examples)
            members.append((task, cached_featurize(features_dir(study), task, examples, tokenizer, config.max_length,
                                                   config.doc_stride, train=True,
                                                   label_piece=config.tagging_label_piece)))
        with curves:  # a training that raises ends its tracking runs as failed
            if scale.ranks > 1:  # a torchrun job; a multi-task recipe's members share the encoder there too
                (task, features), *others = members
                kind = model_kind(task)
                also = [_job_task(other, other_features, scale) for other, other_features in others]
                job = train_on_ranks(scale, task, kind.head_class(task), _head_kwargs(kind, task, scale), source,
                                     features, recipe.loop, seed, tokenizer.pad_token_id, tmp / "ranks", resume,
                                     ENCODER, tokenizer=source, on_step=curves, also=also)
                seconds = json.loads((job / DONE).read_text())["seconds"]
                for item in (job / ENCODER).iterdir():
                    item.rename(tmp / item.name)
                shutil.rmtree(job)
            else:
                tasks = {}
                for task, features in members:
                    torch.manual_seed(seed)  # fresh heads must be the same for the same seed in every process
                    tasks[task.name] = (build_head_model(source, task, scale.revision, scale.layers_kept), features)
                if len(tasks) > 1:
                    share_encoder([model for model, _ in tasks.values()])
                with preemption.listening():
                    stats["train"] = train(tasks, recipe.loop, seed, tokenizer.pad_token_id, device, progress,
                                           description=f"{scale.name}/{intermediate}", on_step=curves,
                                           checkpoint_dir=resume)
                seconds = stats["train"].seconds
                save_encoder(next(iter(tasks.values()))[0], tokenizer, tmp)
        curves.close()
        _move_curves(resume, tmp)
        return {"scale": scale.name, "intermediate": intermediate, "members": recipe.members, "seed": seed,
                "source": source, "train_seconds": seconds, "ranks": scale.ranks, "finished_at": now(),
                "data_revision": checkpoints.intermediate_data_revision(study, intermediate)}

    checkpoints.build_atomically(out_dir, build)
    return str(out_dir), stats.get("train")


def _head_kwargs(kind, task, scale: ModelScale) -> dict:
    """A torchrun job's from_pretrained arguments: the task's head, and a truncated rung's depth."""
    depth = {"num_hidden_layers": scale.layers_kept} if scale.layers_kept else {}
    return {**kind.head_kwargs(task), **depth}


def _job_task(task, features: list, scale: ModelScale) -> JobTask:
    """A further member of a multi-task torchrun job: its head class, from_pretrained arguments, features."""
    kind = model_kind(task)
    return JobTask(task.name, kind.head_class(task).__name__, _head_kwargs(kind, task, scale), features)


def _move_curves(resume: Path, checkpoint: Path) -> None:
    """The finished training's curve goes into its checkpoint; the resume folder goes when empty."""
    if (resume / "curves").is_dir():
        shutil.rmtree(checkpoint / "curves", ignore_errors=True)
        (resume / "curves").rename(checkpoint / "curves")
    if resume.is_dir() and not any(resume.iterdir()):
        resume.rmdir()


def _base_row(study: Study, scale: ModelScale, intermediate: str, target: str, seed: int) -> dict:
    return {"study": study.name, "model": study.family, "scale": scale.name,
            # one count per scale, from its phase-(i) checkpoint: a saved intermediate encoder may lack or add a pooler;
            # a truncated rung counts the layers it keeps
            "params": count_parameters_from_config(checkpoints.pretrained_source(study, scale), scale.layers_kept),
            "intermediate_task": intermediate,
            "target_task": target, "task_family": get_task(target).family, "seed": seed,
            **provenance_columns(checkpoints.pretrained_source(study, scale), scale.revision)}


def _finish(rows: list[dict], started: float, device: torch.device, hyperparameters: str) -> list[dict]:
    meta = {"git_commit": git_commit(), "finished_at": now(), "device": describe_device(device),
            "wall_seconds": round(time.perf_counter() - started, 2), "hyperparameters": hyperparameters}
    return [{**row, **meta} for row in rows]


def _languages_with_data(study: Study, task, load) -> list[tuple[str, object, Reads]]:
    """Load every evaluation language with what it read (its data revision); a language whose file is missing
    is skipped with a warning."""
    loaded, missing, errors = [], [], []
    languages = evaluation_languages(study, task)
    if not languages:
        raise DataNotFoundError(f"task {task.name!r} has none of the study's languages {list(study.languages or ())}; "
                                f"its languages: {list(task.languages)}. Add one to languages: in {study.path}")
    for language in languages:
        try:
            with recording() as reads:
                loaded.append((language, load(language), reads))
        except DataNotFoundError as err:
            missing.append(language)
            errors.append(str(err))
            log.warning("%s", err)
    if not loaded:  # every language's own error, since the warnings may have gone to another log
        raise DataNotFoundError(f"task {task.name!r}: no evaluation data for any of {missing}:\n" + "\n".join(errors))
    if missing:
        log.warning("task %s: skipped languages without data: %s", task.name, ", ".join(missing))
    return loaded


def run_intermediate_cell(study: Study, scale_name: str, intermediate: str, seed: int, progress: bool = True,
                          predictions: list[dict] | None = None) -> list[dict]:
    """Phase (ii), then score every retrieval target straight from the resulting encoder.

    ``predictions``, when given, receives one row per retrieval query (xw.results.prediction_rows)."""
    started = time.perf_counter()
    scale = study.scale(scale_name)
    checkpoint, _ = ensure_intermediate(study, scale, intermediate, seed, progress)
    device = pick_device()
    rows: list[dict] = []
    layer = None
    data_root = data_config(study).root
    retrieval_tasks = [get_task(t) for t in study.target_tasks if not get_task(t).task_kind.trained]
    if retrieval_tasks:
        revision = scale.revision if checkpoint == scale.hub else None  # pins the hub model, not a saved one
        encoder = load_encoder(checkpoint, revision, scale.layers_kept).to(device)
        tokenizer = load_tokenizer(checkpoint, revision)
        layer = layer_for(encoder, study.retrieval.layer_fraction)
        trained_on = merged(*checkpoints.intermediate_data_revision(study, intermediate).values())
        for task in retrieval_tasks:
            base = _base_row(study, scale, intermediate, task.name, seed)
            cap = study.train_config(task.name).max_eval_examples  # a subsample (xw.data.subsample_retrieval)
            for language, test, reads in _languages_with_data(
                    study, task, lambda lang, t=task, n=cap: load_retrieval(study, t, t.eval_split_for(lang), lang, n)):
                if language == "en":
                    continue  # retrieval pairs are <language> -> English
                dev = None
                if task.dev_split and task.dev_split != task.eval_split_for(language):
                    with recording() as dev_reads:
                        dev = load_retrieval(study, task, task.dev_split, language, cap)
                    reads.update(dev_reads)
                result = evaluate_retrieval(encoder, tokenizer, task, test, dev, layer,
                                            study.retrieval.max_length, device)
                read = revision_json(merged(trained_on, summary(reads, data_root)))
                rows += metric_rows({**base, "data_revision": read}, language, task.eval_split_for(language),
                                    result, task.primary_metric or "accuracy")
                if predictions is not None:
                    predictions += prediction_rows(base, language, task.eval_split_for(language), result.predictions)
    hyper = hyperparameters_json(retrieval=study.retrieval, layer=layer,
                                 intermediate=study.intermediate_recipe(intermediate).record(),
                                 max_eval_examples={t.name: study.train_config(t.name).max_eval_examples
                                                    for t in retrieval_tasks})
    curve = read_summary(Path(checkpoint) / "curves")  # phase (ii)'s curve, saved with its checkpoint
    return [{**row, **curve} for row in _finish(rows, started, device, hyper)]


def run_target_cell(study: Study, scale_name: str, intermediate: str, target: str, seed: int,
                    progress: bool = True, predictions: list[dict] | None = None) -> list[dict]:
    """Phase (iii): fine-tune on the target's English training set, evaluate every language zero-shot.

    ``predictions``, when given, receives one row per evaluated example (xw.results.prediction_rows)."""
    started = time.perf_counter()
    scale = study.scale(scale_name)
    task = with_label_names(get_task(target), data_config(study))
    if not task.task_kind.trained:
        raise XWError(f"target {target!r} is a retrieval task: it is scored in the intermediate cell")
    checkpoint, _ = ensure_intermediate(study, scale, intermediate, seed, progress)
    config = study.train_config(target)
    device = pick_device()
    revision = scale.revision if checkpoint == scale.hub else None  # pins the hub model, not a saved one
    tokenizer = load_tokenizer(checkpoint, revision)
    with recording() as train_reads:
        train_examples = load_examples(study, task, task.train_split or "train", "en", config.max_train_examples)
    source = data_config(study).source  # MLQA: hub evaluates XTREME's test split, the local tree only has dev
    evaluation = _languages_with_data(
        study, task, lambda lang: load_examples(study, task, task.eval_split_for(lang, source), lang,
                                                config.max_eval_examples))
    features = cached_featurize(features_dir(study), task, train_examples, tokenizer, config.max_length,
                                config.doc_stride, train=True, label_piece=config.tagging_label_piece)
    folder = layout.target_curves(study, scale.name, intermediate, target, seed)
    name = folder.name  # the training's name: its resume and torchrun folders are named alike
    curves = CurveWriter(folder, tag="target", **_tracking(study, name),  # whole even when resumed
                         resume_from=0 if scale.ranks > 1 else latest_step(resume_dir(study, name)))
    with curves:  # a training that raises ends its tracking runs as failed
        if scale.ranks > 1:  # a torchrun job; the trained head model is then evaluated here, on one device
            kind = model_kind(task)
            job = train_on_ranks(scale, task, kind.head_class(task), _head_kwargs(kind, task, scale), checkpoint, features,
                                 config, seed, tokenizer.pad_token_id, ranks_dir(study, name),
                                 resume_dir(study, name), MODEL, on_step=curves)
            model = kind.head_class(task).from_pretrained(str(job / MODEL)).to(device)
        else:
            torch.manual_seed(seed)  # the new head's initialisation is part of what the seed determines
            model = build_head_model(checkpoint, task, revision, scale.layers_kept)
            with preemption.listening():
                train({target: (model, features)}, config, seed, tokenizer.pad_token_id, device, progress,
                      description=f"{scale.name}/{intermediate}/{target}", on_step=curves,
                      checkpoint_dir=resume_dir(study, name))
    curve = curves.close()
    base = _base_row(study, scale, intermediate, target, seed)
    data_root = data_config(study).root
    trained_on = merged(*checkpoints.intermediate_data_revision(study, intermediate).values(),
                        summary(train_reads, data_root))
    rows: list[dict] = []
    for language, examples, reads in evaluation:
        result = evaluate_examples(model, tokenizer, task, examples, language, config, device)
        read = revision_json(merged(trained_on, summary(reads, data_root)))
        rows += metric_rows({**base, "data_revision": read}, language, task.eval_split_for(language, source),
                            result, task.primary_metric or "accuracy")
        if predictions is not None:
            predictions += prediction_rows(base, language, task.eval_split_for(language, source), result.predictions)
    if scale.ranks > 1:
        shutil.rmtree(ranks_dir(study, name), ignore_errors=True)  # the exported head model: rows are computed
    return [{**row, **curve} for row in _finish(rows, started, device, hyperparameters_json(
        target=config, intermediate=study.intermediate_recipe(intermediate).record()))]
