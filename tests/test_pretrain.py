"""MLM pretraining: a loadable checkpoint, an honest cache marker, clear failures."""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import AutoModelForMaskedLM, AutoTokenizer  # noqa: E402

from xw import pretrain  # noqa: E402
from xw.errors import TrainingError  # noqa: E402
from xw.pretrain import MARKER, count_parameters, mask_tokens, mini_config, pretrain_mlm  # noqa: E402

TINY = {
    "world_seed": 0, "layers": 1, "hidden": 16, "heads": 2, "intermediate_size": 32, "steps": 6, "batch_size": 4,
    "learning_rate": 1e-3, "seed": 0, "progress": False, "corpus_docs": 200,
}  # fmt: skip


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch.set_num_threads(1)
    return pretrain_mlm(**TINY, out_dir=tmp_path_factory.mktemp("pt") / "tiny")


def test_checkpoint_loads_and_predicts(tiny_model):
    marker = json.loads((tiny_model / MARKER).read_text())
    assert marker["config"]["layers"] == 1 and marker["parameters"] > marker["non_embedding_parameters"] > 0
    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForMaskedLM.from_pretrained(tiny_model)
    enc = tok("the dog <mask> the ball .", return_tensors="pt")
    logits = model(**enc).logits
    assert logits.shape == (1, enc["input_ids"].shape[1], len(tok))
    assert not any(p.name.startswith(".tiny.partial") for p in tiny_model.parent.iterdir())


def test_marker_makes_it_a_cache(tiny_model, monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("retrained despite the marker")

    monkeypatch.setattr(pretrain, "XLMRobertaForMaskedLM", boom)
    assert pretrain_mlm(**TINY, out_dir=tiny_model) == tiny_model
    with pytest.raises(FileExistsError, match="different configuration"):
        pretrain_mlm(**{**TINY, "steps": 7}, out_dir=tiny_model)


def test_nan_loss_raises_training_error(tmp_path, monkeypatch):
    real = pretrain.F.cross_entropy
    monkeypatch.setattr(pretrain.F, "cross_entropy", lambda *a, **k: real(*a, **k) * float("nan"))
    with pytest.raises(TrainingError, match="MLM loss"):
        pretrain_mlm(**TINY, out_dir=tmp_path / "nan")
    assert not (tmp_path / "nan").exists() and list(tmp_path.iterdir()) == []


def test_count_parameters_matches_a_real_model():
    config = mini_config(vocab_size=1000, layers=2, hidden=32, heads=2, intermediate_size=64)
    model = pretrain.XLMRobertaForMaskedLM(config)
    assert count_parameters(config) == sum(p.numel() for p in model.parameters())
    embeddings = 1000 * 32 + config.max_position_embeddings * 32 + 32
    assert count_parameters(config, include_embeddings=False) == count_parameters(config) - embeddings


def test_masking_never_touches_special_tokens():
    ids = torch.randint(0, 50, (64, 32))
    inputs, labels = mask_tokens(ids, mask_id=4, n_special=5, vocab_size=50, generator=torch.Generator().manual_seed(0))
    special = ids < 5
    assert (labels[special] == -100).all() and (inputs[special] == ids[special]).all()
    chosen = labels != -100
    assert 0.1 < chosen.float().mean() < 0.2 and (inputs[chosen] == 4).float().mean() > 0.6
