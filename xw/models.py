"""Model ladder: resolve a scale to a checkpoint, count its parameters, build task heads.

Why: every phase loads encoders and tokenizers the same way and with the same errors; the head
a task gets is its kind's (:meth:`xw.kinds.ModelKind.head_class`).

A checkpoint of any phase stores only the shared encoder plus the tokenizer, so the
next phase can put any head on it (HF loads a base-model checkpoint into a head model
and initialises the head fresh).
"""

from __future__ import annotations

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


def count_parameters_from_config(source: str | Path) -> int:
    """Count an encoder's parameters from its config alone (no weight download)."""
    return count_encoder_parameters(_load_config(source))


def count_encoder_parameters(config: PretrainedConfig) -> int:
    """Parameters of the encoder a config describes, built on the meta device (free for any size)."""
    with torch.device("meta"):
        model = AutoModel.from_config(config)
    return sum(p.numel() for p in model.parameters())


def _load_config(source: str | Path) -> PretrainedConfig:
    try:
        return AutoConfig.from_pretrained(str(source))
    except OSError as err:
        raise XWError(
            f"model {source!r} could not be found: not a local checkpoint and not reachable on the "
            f"HuggingFace hub ({err.__class__.__name__}). Check the id/path in models.ladder, or "
            "download it first with `huggingface-cli download <id>`."
        ) from None


def load_tokenizer(source: str | Path) -> PreTrainedTokenizerBase:
    try:
        return AutoTokenizer.from_pretrained(str(source))
    except OSError as err:
        raise XWError(f"tokenizer for {source!r} could not be loaded: {err}") from None


def build_head_model(source: str | Path, task: TaskSpec) -> PreTrainedModel:
    """Put the task's head on the encoder stored at ``source`` (new head, loaded encoder)."""
    kind = model_kind(task)
    head = kind.head_class(task)
    kwargs = kind.head_kwargs(task)
    if not Path(str(source)).exists() and not _looks_like_hub_id(str(source)):
        raise DataNotFoundError(f"checkpoint {source} does not exist; re-run its intermediate cell")
    model = head.from_pretrained(str(source), **kwargs)
    return model


def load_encoder(source: str | Path) -> PreTrainedModel:
    return AutoModel.from_pretrained(str(source))


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
