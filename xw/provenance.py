"""Where a number came from: code version, library versions, model revision.

Every result row carries these columns so a number in a report can be traced to the exact
software and weights that produced it, and re-run; the library major versions also enter the
checkpoint cache keys (xw.checkpoints) so an upgrade never silently reuses an old checkpoint.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARIES = ("torch", "transformers", "datasets", "tokenizers")
# files whose content names a checkpoint's numbers; full weight files are hashed only when no index exists
CONFIG_FILES = ("config.json", "model.safetensors.index.json", "pytorch_model.bin.index.json")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "absent"


@functools.lru_cache(maxsize=1)
def git_describe() -> str:
    """``git describe --always --dirty`` of xw's checkout ('unknown' outside git): -dirty flags uncommitted code."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--tags"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.lru_cache(maxsize=1)
def library_versions() -> dict[str, str]:
    """xw and the libraries whose versions change numbers, plus CUDA/cuDNN where torch has them."""
    versions = {"xw": _version("xw"), **{name: _version(name) for name in LIBRARIES}}
    try:
        import torch

        versions["cuda"] = torch.version.cuda or "none"
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        versions["cudnn"] = str(cudnn) if cudnn else "none"
    except ImportError:
        versions["cuda"] = versions["cudnn"] = "none"
    return versions


def key_versions() -> dict[str, str]:
    """The major versions that enter checkpoint cache keys: stable across runs on one installation."""
    return {name: library_versions()[name].split(".")[0] for name in ("torch", "transformers", "tokenizers")}


def _sha256_file(path: Path, digest: Any = None) -> Any:
    digest = digest or hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest


@functools.lru_cache(maxsize=64)
def _local_revision(folder: str, stamp: tuple) -> str:
    digest = hashlib.sha256()
    root = Path(folder)
    names = [n for n in CONFIG_FILES if (root / n).is_file()]
    if not any(n.endswith(".index.json") for n in names):  # no index: the weights themselves name the model
        names += [n for n in WEIGHT_FILES if (root / n).is_file()]
    for name in names:
        digest.update(name.encode())
        _sha256_file(root / name, digest)
    return "sha256:" + digest.hexdigest()[:16]


def model_revision(source: str, revision: str | None = None) -> str:
    """A local checkpoint's content hash, or a hub model's resolved commit sha (from its cached config)."""
    folder = Path(source)
    if folder.is_dir():
        stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in sorted(folder.iterdir()) if p.is_file())
        return _local_revision(str(folder.resolve()), stamp)
    try:
        from transformers import AutoConfig

        sha = getattr(AutoConfig.from_pretrained(source, revision=revision), "_commit_hash", None)
    except (OSError, ValueError):
        sha = None
    return sha or revision or "unresolved"


def sha256_files(paths: list[Path]) -> str:
    """One hash over the local data files a cell read (name + content), for the dataset revision column."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        _sha256_file(path, digest)
    return "sha256:" + digest.hexdigest()[:16]


def provenance_columns(model_source: str, model_revision_pin: str | None = None) -> dict[str, str]:
    """The provenance columns of a result row (named in xw.results.COLUMNS)."""
    versions = library_versions()
    return {"xw_version": versions["xw"], "git_describe": git_describe(),
            "library_versions": json.dumps(versions, sort_keys=True),
            "model_revision": model_revision(model_source, model_revision_pin)}
