"""Model ladder: resolve a scale to a checkpoint, count its parameters, build task heads.

Why: every phase loads encoders and tokenizers the same way and with the same errors; the head
a task gets is its kind's (:meth:`xw.kinds.ModelKind.head_class`).

A checkpoint of any phase stores only the shared encoder plus the tokenizer, so the
next phase can put any head on it (HF loads a base-model checkpoint into a head model
and initialises the head fresh).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from transformers import (
    AutoConfig,
    AutoModel,
    AutoTokenizer,
    PretrainedConfig,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from xw.errors import DataNotFoundError, XWError
from xw.kinds import model_kind
from xw.tasks import TaskSpec


def count_parameters_from_config(source: str | Path, layers_kept: int | None = None) -> int:
    """Count an encoder's parameters from its config (no weight download), embeddings included.

    ``layers_kept`` (ModelScale.layers_kept): the count of the truncated encoder a cell trains, not the
    checkpoint's full depth.

    A pooler is counted only where the checkpoint holds one: AutoModel gives every BERT-type encoder a
    pooler, which a checkpoint saved without it (an MLM or sentence-embedding model) does not train from
    its weights (hidden^2 + hidden, e.g. +148k for a 118M model). A hub id or a config-only folder has no
    local weights to ask, so its count follows the config.
    """
    names = local_tensor_names(source)
    has_pooler = names is None or any(".pooler." in f".{name}" for name in names)
    config = _load_config(source)
    if layers_kept is not None:
        config.num_hidden_layers = checked_layers_kept(source, layers_kept, getattr(config, "num_hidden_layers", None))
    return count_encoder_parameters(config, pooler=has_pooler)


def count_encoder_parameters(config: PretrainedConfig, pooler: bool = True) -> int:
    """Parameters of the encoder a config describes, built on the meta device (free for any size)."""
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return sum(p.numel() for name, p in model.named_parameters() if pooler or not name.startswith("pooler."))


def local_tensor_names(source: str | Path) -> set[str] | None:
    """Names of the tensors a local checkpoint's weight files hold (headers only); None without local weights."""
    folder = Path(str(source))
    for index in ("model.safetensors.index.json", "pytorch_model.bin.index.json"):
        if (folder / index).is_file():
            return set(json.loads((folder / index).read_text()).get("weight_map", {}))
    if (folder / "model.safetensors").is_file():
        from safetensors import safe_open

        with safe_open(str(folder / "model.safetensors"), framework="pt") as weights:
            return set(weights.keys())
    if (folder / "pytorch_model.bin").is_file():
        return set(torch.load(folder / "pytorch_model.bin", map_location="meta", weights_only=True, mmap=True))
    return None


def _load_config(source: str | Path) -> PretrainedConfig:
    try:
        return AutoConfig.from_pretrained(str(source))
    except OSError as err:
        raise XWError(
            f"model {source!r} could not be found: not a local checkpoint and not reachable on the "
            f"HuggingFace hub ({err.__class__.__name__}). Check the id/path in models.ladder, or "
            "download it first with `hf download <id>`."
        ) from None
    except ValueError as err:  # a folder whose config.json names no architecture transformers knows
        raise XWError(f"model {source!r} is not a model transformers can load: {err}") from None


def checked_layers_kept(source: str | Path, layers_kept: int, depth: int | None) -> int:
    """``layers_kept`` checked against the checkpoint's ``depth``: more layers than it has would be built fresh
    (random) by from_pretrained without an error, so a rung asking for them fails here instead."""
    if depth is None:
        raise XWError(f"model {source!r}: its config has no num_hidden_layers, so layers_kept cannot truncate it; "
                      "remove layers_kept from its models.ladder rung")
    if not 1 <= layers_kept <= depth:
        raise XWError(f"model {source!r} has {depth} layers; layers_kept must be between 1 and {depth}, "
                      f"got {layers_kept}: fix layers_kept in its models.ladder rung")
    return layers_kept


def depth_kwargs(source: str | Path, layers_kept: int | None, revision: str | None = None) -> dict[str, int]:
    """``from_pretrained`` arguments that keep the first ``layers_kept`` layers ({} for the full model).

    A checkpoint saved from a truncated model (a phase-(ii) one) already has that depth: asking for it
    again changes nothing, so every load of a rung's model passes the rung's value."""
    if layers_kept is None:
        return {}
    try:
        config = AutoConfig.from_pretrained(str(source), revision=revision)
    except (OSError, ValueError) as err:
        raise XWError(f"model {source!r} could not be read to truncate it to {layers_kept} layers: {err}") from None
    return {"num_hidden_layers": checked_layers_kept(source, layers_kept, getattr(config, "num_hidden_layers", None))}


def load_tokenizer(source: str | Path, revision: str | None = None) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(str(source), revision=revision)
    except (OSError, ValueError) as err:
        raise XWError(f"tokenizer for {source!r} could not be loaded: {err}") from None


def build_head_model(source: str | Path, task: TaskSpec, revision: str | None = None,
                     layers_kept: int | None = None) -> PreTrainedModel:
    """Put the task's head on the encoder stored at ``source`` (new head, loaded encoder, its first
    ``layers_kept`` layers where the rung truncates it)."""
    kind = model_kind(task)
    head = kind.head_class(task)
    if not Path(str(source)).exists() and not _looks_like_hub_id(str(source)):
        raise DataNotFoundError(f"checkpoint {source} does not exist; re-run its intermediate cell")
    kwargs = {**kind.head_kwargs(task), **depth_kwargs(source, layers_kept, revision)}
    try:
        return head.from_pretrained(str(source), revision=revision, **kwargs)
    except (OSError, ValueError) as err:  # a path that exists but holds no (complete) model
        raise XWError(f"checkpoint {source} could not be loaded as a {head.__name__}: {err}") from None


def load_encoder(source: str | Path, revision: str | None = None, layers_kept: int | None = None) -> PreTrainedModel:
    """``revision`` pins a hub model's commit (ModelScale.revision); local folders ignore it. ``layers_kept``:
    the rung's truncation (ModelScale.layers_kept)."""
    kwargs = depth_kwargs(source, layers_kept, revision)
    try:
        return AutoModel.from_pretrained(str(source), revision=revision, **kwargs)
    except (OSError, ValueError) as err:  # a path that exists but holds no (complete) model
        raise XWError(f"encoder {source} could not be loaded: {err}") from None


def encoder_of(model: PreTrainedModel) -> torch.nn.Module:
    """The shared transformer body of a head model (``model.roberta``, ``model.bert``, ...)."""
    return getattr(model, model.base_model_prefix)


def share_encoder(models: list[PreTrainedModel]) -> None:
    """Make every head model use one encoder (multi-task training, jiant-style).

    The shared one is an encoder with a pooler where any has one: HF's multiple-choice heads
    read the pooled output, while the classification, tagging and QA heads build their encoder
    without a pooler, so sharing a pooler-less encoder would break a multiple-choice member.
    """
    encoders = [encoder_of(model) for model in models]
    shared = next((e for e in encoders if getattr(e, "pooler", None) is not None), encoders[0])
    for model in models:
        setattr(model, model.base_model_prefix, shared)


def save_encoder(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, out_dir: Path) -> None:
    """Save just the encoder and tokenizer: the next phase adds its own head."""
    encoder_of(model).save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _looks_like_hub_id(source: str) -> bool:
    return "/" not in source.strip("/") or source.count("/") == 1 and not source.startswith((".", "/"))


def pick_device() -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda")
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
