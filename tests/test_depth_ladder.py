"""A ladder rung's ``layers_kept``: one checkpoint truncated to its first k layers (parameters/real-small.yaml).

Why: a depth ladder of one model is only honest if every load of the rung gets k layers (the fresh
encoder, the head model, the retrieval encoder), the parameter count and memory are the truncated
model's, the cache keys tell the rungs apart, and a k the checkpoint cannot give is refused up front
(from_pretrained would otherwise build the missing layers at random, silently).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import torch
import yaml
from transformers import BertConfig, BertModel

from xw import checkpoints
from xw.errors import ParameterError, XWError
from xw.models import build_head_model, count_encoder_parameters, count_parameters_from_config, load_encoder
from xw.plan import scale_parameters, scale_shape
from xw.study import load_study
from xw.tasks import TaskSpec, register

register(TaskSpec(name="depth-target", kind="tagging", family="tagging", role="target", languages=("en",),
                  metric="accuracy", loader=lambda *a: None, label_names=("O", "X")))


def _config(layers: int = 3) -> BertConfig:
    return BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=layers, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32)


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory) -> Path:
    """A 3-layer BERT saved like a real checkpoint (config, weights, a tokenizer file)."""
    folder = tmp_path_factory.mktemp("enc") / "bert3"
    torch.manual_seed(0)
    BertModel(_config(), add_pooling_layer=False).save_pretrained(folder)
    (folder / "tokenizer.json").write_text("{}")  # checkpoint_problem only asks that one exists
    return folder


def _study(tmp_path: Path, rungs: list[dict]) -> dict:
    return {"study": "depth", "data": {"source": "miniworld"}, "models": {"ladder": rungs},
            "intermediate_tasks": ["none"], "target_tasks": ["depth-target"]}


def _load(tmp_path: Path, raw: dict):
    path = tmp_path / "depth.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_study(path, output_root=tmp_path / "out"), path


@pytest.mark.parametrize(("rung", "expected"), [
    ({"layers_kept": 0}, r"models.ladder\[0\].layers_kept': must be at least 1"),
    ({"layers_kept": 4}, r"models.ladder\[0\].layers_kept': rung 'r': .* has 3 layers; layers_kept must be between "
                         r"1 and 3, got 4"),
    ({"layers_kept": "two"}, r"models.ladder\[0\].layers_kept': expected an integer"),
])
def test_bad_layers_kept_is_one_clear_message(tmp_path, encoder_dir, rung, expected):
    with pytest.raises(ParameterError, match=expected) as info:
        _load(tmp_path, _study(tmp_path, [{"name": "r", "path": str(encoder_dir), **rung}]))
    assert str(tmp_path / "depth.yaml") in str(info.value)


def test_layers_kept_on_a_mini_scale_is_refused(tmp_path):
    rung = {"name": "m", "layers": 2, "hidden": 16, "heads": 2, "layers_kept": 1}
    with pytest.raises(ParameterError, match=r"layers_kept': truncates a hub or path checkpoint"):
        _load(tmp_path, _study(tmp_path, [rung]))


def test_path_expands_variables_and_a_missing_one_shows_its_build_hint(tmp_path, encoder_dir, monkeypatch):
    monkeypatch.setenv("XW_TEST_MODELS", str(encoder_dir.parent))
    study, _ = _load(tmp_path, _study(tmp_path, [{"name": "r", "path": "$XW_TEST_MODELS/bert3", "layers_kept": 2}]))
    assert study.ladder[0].path == str(encoder_dir) and study.ladder[0].layers_kept == 2
    missing = {"name": "r", "path": "$XW_TEST_MODELS/absent", "build_hint": "build it with tools/build.sh"}
    with pytest.raises(ParameterError, match=r"path': checkpoint .*absent does not exist \(build it with tools/build"):
        _load(tmp_path, _study(tmp_path, [missing]))


def test_the_cache_keys_tell_the_rungs_apart_and_leave_untruncated_ones_as_they_were(tmp_path, encoder_dir):
    rungs = [{"name": "full", "path": str(encoder_dir)}, {"name": "full-kept", "path": str(encoder_dir), "layers_kept": 3},
             {"name": "l1", "path": str(encoder_dir), "layers_kept": 1},
             {"name": "l1-hint", "path": str(encoder_dir), "layers_kept": 1, "build_hint": "x"}]
    study, _ = _load(tmp_path, _study(tmp_path, rungs))
    full, full_kept, l1, l1_hint = study.ladder
    assert "layers_kept" not in full.identity() and full_kept.identity()["layers_kept"] == 3
    keys = {s.name: checkpoints.pretrained_key(study, s) for s in study.ladder}
    assert keys["full"] != keys["l1"] and keys["full-kept"] != keys["l1"]
    # the name is part of identity; with it equal, the hint changes no key and layers_kept does
    assert checkpoints.pretrained_key(study, l1) == checkpoints.pretrained_key(study, replace(l1_hint, name="l1"))
    two = replace(l1, layers_kept=2)
    assert checkpoints.pretrained_key(study, two) != keys["l1"]
    assert checkpoints.intermediate_dir(study, two, "x", 0) != checkpoints.intermediate_dir(study, l1, "x", 0)


def test_parameters_and_memory_shape_are_the_truncated_model(tmp_path, encoder_dir):
    per_layer = count_encoder_parameters(_config(2), pooler=False) - count_encoder_parameters(_config(1), pooler=False)
    full = count_parameters_from_config(encoder_dir)
    assert full == count_encoder_parameters(_config(3), pooler=False)  # saved without a pooler
    assert count_parameters_from_config(encoder_dir, 1) == full - 2 * per_layer
    assert count_parameters_from_config(encoder_dir, 3) == full
    with pytest.raises(XWError, match=r"has 3 layers; layers_kept must be between 1 and 3, got 5"):
        count_parameters_from_config(encoder_dir, 5)
    study, _ = _load(tmp_path, _study(tmp_path, [{"name": "l2", "path": str(encoder_dir), "layers_kept": 2}]))
    assert scale_parameters(study, study.ladder[0]) == full - per_layer
    assert scale_shape(study, study.ladder[0]) == (16, 2)


def test_every_load_keeps_the_first_layers_with_their_weights(encoder_dir):
    original = BertModel.from_pretrained(encoder_dir)
    encoder = load_encoder(encoder_dir, layers_kept=2)
    assert encoder.config.num_hidden_layers == 2 and len(encoder.encoder.layer) == 2
    for kept, source in zip(encoder.encoder.layer, original.encoder.layer[:2], strict=True):
        for a, b in zip(kept.parameters(), source.parameters(), strict=True):
            assert torch.equal(a, b)
    task = TaskSpec(name="depth-head", kind="tagging", family="tagging", role="target", languages=("en",),
                    metric="accuracy", loader=lambda *a: None, label_names=("O", "X"))
    head = build_head_model(encoder_dir, task, layers_kept=1)
    assert len(head.bert.encoder.layer) == 1
    assert torch.equal(head.bert.encoder.layer[0].output.dense.weight, original.encoder.layer[0].output.dense.weight)
    assert len(load_encoder(encoder_dir).encoder.layer) == 3  # no layers_kept: the whole model
    with pytest.raises(XWError, match=r"has 3 layers; layers_kept must be between 1 and 3, got 4"):
        load_encoder(encoder_dir, layers_kept=4)
