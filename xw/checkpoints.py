"""Cached checkpoints of phases (i) and (ii), keyed by a hash of everything that determines them.

A checkpoint is complete only when its marker file exists (written last, after an atomic
rename of the whole folder), so a run killed mid-save is detected and rebuilt.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from xw.errors import XWError
from xw.params import NONE, ModelScale, Study, config_hash
from xw.provenance import key_versions, model_revision
from xw.tasks import get_task
from xw.tasks.base import data_config
from xw.tasks.revision import split_revision

MARKER = "xw-complete.json"


def cache_root(study: Study) -> Path:
    return study.output_root / "_cache"


def is_complete(path: Path) -> bool:
    return (path / MARKER).is_file()


def build_atomically(out_dir: Path, build: Callable[[Path], dict]) -> Path:
    """Run ``build(tmp_dir)`` and move the result into place; the marker records its metadata.

    Builders of one checkpoint take turns (a flock beside it), so two processes never train the
    same model twice, and the one holding the lock may delete what killed builders left: a
    half-written ``out_dir`` without marker and ``.<name>.*`` temp folders. The lock file goes when the
    build ends, so a failed build leaves nothing behind.
    """
    from xw.lock import file_lock

    if is_complete(out_dir):
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(out_dir.parent / f".{out_dir.name}.lock", what=f"checkpoint {out_dir}", remove=True):
        if is_complete(out_dir):  # built by another process while this one waited
            return out_dir
        for stale in out_dir.parent.glob(f".{out_dir.name}.*"):  # temp folders of killed builders
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
        if out_dir.exists():  # half-written by a killed run
            shutil.rmtree(out_dir, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}."))
        try:
            metadata = build(tmp)
            (tmp / MARKER).write_text(json.dumps(metadata, indent=2, sort_keys=True, default=str))
            try:
                os.replace(tmp, out_dir)
            except OSError:
                if not is_complete(out_dir):  # nobody else finished it: a real failure
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return out_dir


WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "sentencepiece.bpe.model", "spiece.model", "vocab.txt",
                   "vocab.json")


def checkpoint_problem(folder: Path) -> str:
    """What a folder lacks to be a model checkpoint xw can fine-tune ('' when nothing): checked at load, so a
    tokenizer-only or half-copied folder is one message naming the file, not a transformers traceback per cell."""
    if not folder.is_dir():
        return "it is a file, not a checkpoint folder" if folder.exists() else "it does not exist"
    names = {p.name for p in folder.iterdir()}
    if "config.json" not in names:
        return "no config.json (the model's architecture): save the model with save_pretrained(folder)"
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return f"config.json cannot be read as JSON ({err})"
    if not isinstance(config, dict) or "model_type" not in config:
        return "config.json has no model_type (transformers cannot tell which architecture it is)"
    if not names & set(WEIGHT_FILES):
        return f"no weights (one of {list(WEIGHT_FILES)})"
    if not names & set(TOKENIZER_FILES):
        return f"no tokenizer (one of {list(TOKENIZER_FILES)}): save it with tokenizer.save_pretrained(folder)"
    return ""


def pretrained_key(study: Study, scale: ModelScale) -> str:
    """Resources change no model; a local checkpoint's content does (xw.provenance), hashed only for path scales
    so hub and mini keys stay what they were."""
    content = (model_revision(scale.path),) if scale.path else ()
    return config_hash(study.data.world_seed, scale.identity(), study.pretrain, *content)


def pretrained_source(study: Study, scale: ModelScale) -> str:
    """Where phase (i) lives: the hub id, the user's path, or xw's cached mini pretraining."""
    if scale.hub:
        return scale.hub
    if scale.path:
        return scale.path
    return str(cache_root(study) / "pretrained" / f"{scale.name}-{pretrained_key(study, scale)}")


def needs_pretraining(study: Study, scale: ModelScale) -> bool:
    """A mini-world scale whose phase-(i) model is not built yet (hub and path scales never need it)."""
    return scale.is_mini and not is_complete(Path(pretrained_source(study, scale)))


def intermediate_data_revision(study: Study, intermediate: str) -> dict[str, dict]:
    """Each member's English training data revision (xw.tasks.revision.split_revision): files' hashes, hub pins."""
    if intermediate == NONE:
        return {}
    members = study.intermediate_recipe(intermediate).members
    if study.data.source == "miniworld":  # generated in memory from world_seed (already in the key)
        return {name: {} for name in members}
    config = data_config(study)
    return {name: split_revision(get_task(name), get_task(name).train_split or "train", "en", config)
            for name in members}


def intermediate_dir(study: Study, scale: ModelScale, intermediate: str, seed: int) -> Path:
    """Keyed by what determines the checkpoint (Study.intermediate_recipe), not by which study or target uses it.

    The members' training data revision is part of the key: a changed data file trains anew. Data generated in
    memory (the mini-world) has none and leaves the key as it was before data revisions were recorded."""
    recipe = study.intermediate_recipe(intermediate)
    # pretrained_key names the phase-(i) model by what defines it (hub id, path or mini architecture), not
    # where its cache lives: moving outputs/ keeps the phase-(ii) checkpoints valid
    # when to save mid-cell checkpoints (TrainConfig.numbers leaves it out) decides no number of the model
    numbers = {**recipe.record(), "loop": recipe.loop.numbers() if recipe.loop else None,
               "member_configs": {m: c.numbers() for m, c in zip(recipe.members, recipe.member_configs, strict=True)}}
    # library major versions change a trained checkpoint's numbers: an upgrade trains anew (stale_checkpoints)
    data = intermediate_data_revision(study, intermediate)
    key = config_hash(pretrained_key(study, scale), study.data.identity(), numbers, seed, key_versions(),
                      *([data] if any(data.values()) else []))
    return cache_root(study) / "intermediate" / f"{scale.name}-{intermediate}-seed{seed}-{key}"


def stale_checkpoints(study: Study) -> list[Path]:
    """Cached phase-(ii) checkpoints of this study's cells whose key no longer matches (an upgraded library,
    a changed revision or data): they are never reused, only kept on disk until deleted."""
    root = cache_root(study) / "intermediate"
    if not root.is_dir():
        return []
    current, prefixes = set(), []
    for scale in study.ladder:
        for intermediate in study.intermediate_tasks:
            if intermediate == NONE:
                continue
            for seed in study.seeds:
                try:
                    path = intermediate_dir(study, scale, intermediate, seed)
                except XWError:  # its training data is missing now: which key is current is unknown, list none
                    continue
                current.add(path.name)
                prefixes.append(f"{scale.name}-{intermediate}-seed{seed}-")
    return sorted(p for p in root.iterdir() if p.is_dir() and p.name not in current and is_complete(p)
                  and any(p.name.startswith(prefix) and "-" not in p.name[len(prefix):] for prefix in prefixes))
