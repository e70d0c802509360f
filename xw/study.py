"""Loading a study: its YAML file validated (xw.params) against the registered tasks (xw.tasks).

The one place that joins the two: xw.params knows the file's schema but sits below the tasks, so the
task registry's names and roles are passed in from here, and the study's languages are checked here
against its target tasks' languages.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

from xw.checkpoints import checkpoint_problem
from xw.params import MULTI, Study
from xw.study_file import parse_study
from xw.tasks import all_tasks
from xw.validate import fail, read_study_file

# codes people write for a language that are not its ISO 639-1 code (country codes, retired codes)
_NEAR_MISSES = {"jp": "ja", "cn": "zh", "kr": "ko", "gr": "el", "dk": "da", "se": "sv", "ua": "uk", "cz": "cs",
                "ir": "fa", "il": "he", "iw": "he", "in": "id", "br": "pt", "vn": "vi", "ch": "zh"}


def task_roles() -> dict[str, str]:
    """Every registered task's role (target / intermediate / both), by name."""
    return {name: spec.role for name, spec in all_tasks().items()}


def load_study(path: str | Path, output_root: str | Path | None = None) -> Study:
    """Load and validate a study file; raise ParameterError naming file, key and fix."""
    return study_from_dict(read_study_file(path), path, output_root)


def study_from_dict(raw: Any, path: str | Path, output_root: str | Path | None = None) -> Study:
    """Validate an already parsed study (tests, notebooks building a study in code)."""
    return check_resources(check_study(parse_study(raw, Path(path), output_root, task_roles())))


def check_study(study: Study) -> Study:
    """What only the registry and the disk can tell: the languages, and that each path rung is a model."""
    for i, scale in enumerate(study.ladder):
        problem = checkpoint_problem(Path(scale.path)) if scale.path else ""
        if problem:
            raise fail(study.path, f"models.ladder[{i}].path",
                       f"rung {scale.name!r}: {scale.path} is not a model checkpoint: {problem}")
        depth = _config_layers(Path(scale.path)) if scale.path and scale.layers_kept else None
        if depth is not None and scale.layers_kept > depth:
            raise fail(study.path, f"models.ladder[{i}].layers_kept",
                       f"rung {scale.name!r}: {scale.path} has {depth} layers; layers_kept must be between 1 and "
                       f"{depth}, got {scale.layers_kept}")
    return check_languages(study)


def _config_layers(folder: Path) -> int | None:
    """num_hidden_layers of a checkpoint's config.json (checked readable by checkpoint_problem); None if absent."""
    value = json.loads((folder / "config.json").read_text()).get("num_hidden_layers")
    return value if isinstance(value, int) else None


def check_languages(study: Study) -> Study:
    """``languages`` against the study's targets: a code no target has (``jp``) would silently drop that
    language, and a target with none of the listed languages would fail only when its cell runs."""
    if study.languages is None:
        return study
    tasks = all_tasks()
    targets = {name: tasks[name].languages for name in study.target_tasks}
    allowed = sorted({lang for langs in targets.values() for lang in langs})
    for code in study.languages:
        if code not in allowed:
            guess = _NEAR_MISSES.get(code.lower(), code.lower())
            guess = guess if guess in allowed else next(iter(difflib.get_close_matches(code, allowed, 1, 0.6)), "")
            hint = f"did you mean {guess!r}? " if guess else ""
            raise fail(study.path, "languages", f"no target task has language {code!r}; {hint}"
                       f"allowed (the targets' languages): {allowed}")
    for name, langs in targets.items():
        if not set(langs) & set(study.languages):
            raise fail(study.path, "languages", f"target {name!r} has none of {list(study.languages)}; its "
                       f"languages: {list(langs)}. Add one of them or drop {name!r} from target_tasks")
    return study


def check_resources(study: Study) -> Study:
    """A rung's GPUs are its own (not executor.slurm's), and its ranks (gpus x nodes) split every trained
    batch evenly, one share per rank and micro-batch: else a multi-GPU cell fails only hours into a grid."""
    if study.executor.slurm.gpus_per_node not in (0, 1):
        raise fail(study.path, "executor.slurm.gpus_per_node", f"got {study.executor.slurm.gpus_per_node}; a cell's "
                   "GPUs are now its rung's models.ladder[i].gpus (and nodes): set them there, and here 1 "
                   "(request each rung's GPUs) or 0 (request none: a CPU partition)")
    tasks = all_tasks()
    loops = [t for t in (*study.intermediate_tasks, *study.target_tasks)
             if t == MULTI or (t in tasks and tasks[t].task_kind.trained)]
    for i, scale in enumerate(study.ladder):
        for task in loops:
            config = study.train_config(task)
            shares = scale.ranks * config.grad_accumulation
            if config.batch_size % shares:
                where = f"training.tasks.{task}" if task in study.task_training else "training.default"
                fits = [n for n in range(1, config.batch_size + 1) if config.batch_size % (n * config.grad_accumulation) == 0]
                raise fail(study.path, f"models.ladder[{i}].gpus",
                           f"rung {scale.name!r} runs {scale.ranks} ranks (gpus {scale.gpus} x nodes {scale.nodes})"
                           f" x grad_accumulation {config.grad_accumulation}, which does not divide task {task!r}'s "
                           f"batch_size {config.batch_size} ({where}); use ranks in {fits} for this rung, "
                           f"or a batch_size that is a multiple of {shares}")
    return study
