"""The three phases over a study: rows land in the tidy table, checkpoints are trained once and reused."""

from __future__ import annotations

import fake_tasks
import pandas as pd
import yaml
from conftest import make_encoder_checkpoint

from xw import checkpoints
from xw.cells import Cell, dependency, expand_grid, is_done, run_cell
from xw.results import COLUMNS, collect
from xw.study import load_study


def _study(tmp_path, ladder):
    return fake_tasks.load_fake_study(tmp_path, ladder)


def test_grid_expansion_and_dependencies(tmp_path, tiny_checkpoint):
    study = _study(tmp_path, {"s": str(tiny_checkpoint)})
    cells = expand_grid(study)
    intermediate = [c for c in cells if c.kind == "intermediate"]
    targets = [c for c in cells if c.kind == "target"]
    assert len(intermediate) == 4 and len(targets) == 4 * 2  # retrieval has no target cell
    assert cells.index(dependency(targets[0])) < cells.index(targets[0])


def test_cells_write_tidy_rows_and_reuse_the_intermediate_checkpoint(tmp_path, tiny_checkpoint, monkeypatch):
    study = _study(tmp_path, {"s": str(tiny_checkpoint)})
    calls = []
    import xw.phases

    original = xw.phases.train
    monkeypatch.setattr(xw.phases, "train", lambda *a, **k: calls.append(k.get("description")) or original(*a, **k))

    retrieval = run_cell(study, Cell("intermediate", "s", "fake-colour", 0), progress=False)
    assert list(retrieval.columns) == COLUMNS
    assert set(retrieval.language) == {"xx", "yy"} and set(retrieval.target_task) == {"fake-bitext"}
    assert retrieval.value.between(0, 100).all()
    assert (retrieval.params > 0).all() and (retrieval.wall_seconds > 0).all()

    for target in ("fake-colour-x", "fake-nouns-x"):
        rows = run_cell(study, Cell("target", "s", "fake-colour", 0, target), progress=False)
        assert set(rows.language) == {"en", "xx", "yy"}
        assert rows.primary.sum() == 3  # one headline number per language
    assert calls == ["s/fake-colour", "s/fake-colour/fake-colour-x", "s/fake-colour/fake-nouns-x"]
    # English colour task is trivially learnable; "xx" is an exact copy after lower-casing
    colour = pd.read_csv(study.output_dir / "cells" / "target__s__fake-colour__fake-colour-x__seed0.csv")
    assert is_done(study, Cell("target", "s", "fake-colour", 0, "fake-colour-x"))
    table = pd.read_csv(collect(study))
    assert len(table) == len(retrieval) + len(colour) + 3 * 3  # seqeval gives f1/precision/recall
    assert not table.duplicated(subset=["intermediate_task", "target_task", "language", "seed", "metric"]).any()


def test_multi_task_checkpoint_and_baseline(tmp_path, tiny_checkpoint):
    study = _study(tmp_path, {"s": str(tiny_checkpoint)})
    run_cell(study, Cell("intermediate", "s", "multi", 0), progress=False)
    path = checkpoints.intermediate_dir(study, study.scale("s"), "multi", 0)
    assert checkpoints.is_complete(path)
    baseline = run_cell(study, Cell("intermediate", "s", "none", 0), progress=False)
    assert set(baseline.intermediate_task) == {"none"}


def test_multi_cell_records_the_config_it_trained_with(tmp_path, tiny_checkpoint, monkeypatch):
    """'multi' trains one loop over all members: with training.tasks.multi, the loop config; each member's
    own config caps and featurises its examples. The rows record exactly that, and the cache key moves
    with it (before Study.intermediate_recipe, the loop ran study.training while key and rows named the
    members' configs)."""
    import json

    import xw.phases

    raw = fake_tasks.study_dict({"s": str(tiny_checkpoint)})
    raw["training"]["tasks"] = {"multi": {"learning_rate": 7e-4, "epochs": 1},
                                "fake-colour": {"max_train_examples": 40}}
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(raw))
    study = load_study(path, output_root=tmp_path / "outputs")
    loops = []
    original = xw.phases.train
    monkeypatch.setattr(xw.phases, "train", lambda tasks, config, *a, **k: loops.append(config) or original(
        tasks, config, *a, **k))
    rows = run_cell(study, Cell("intermediate", "s", "multi", 0), progress=False)

    assert [(c.learning_rate, c.epochs) for c in loops] == [(7e-4, 1)]
    recorded = json.loads(rows.hyperparameters.iloc[0])["intermediate"]
    assert recorded["members"] == ["fake-colour", "fake-nouns"]
    assert recorded["loop"]["learning_rate"] == 7e-4 and recorded["loop"]["epochs"] == 1
    assert recorded["member_configs"]["fake-colour"]["max_train_examples"] == 40
    assert recorded["member_configs"]["fake-nouns"]["max_train_examples"] == 0
    key = checkpoints.intermediate_dir(study, study.scale("s"), "multi", 0).name

    raw["training"]["tasks"]["multi"]["learning_rate"] = 8e-4  # another loop: another checkpoint
    path.write_text(yaml.safe_dump(raw))
    other = load_study(path, output_root=tmp_path / "outputs")
    assert checkpoints.intermediate_dir(other, other.scale("s"), "multi", 0).name != key
    target = run_cell(other, Cell("target", "s", "multi", 0, "fake-colour-x"), progress=False)
    assert json.loads(target.hyperparameters.iloc[0])["intermediate"]["loop"]["learning_rate"] == 8e-4
    assert [c.learning_rate for c in loops] == [7e-4, 8e-4, raw["training"]["default"]["learning_rate"]]


def test_half_written_checkpoint_is_rebuilt(tmp_path, tiny_checkpoint):
    study = _study(tmp_path, {"s": str(tiny_checkpoint)})
    path = checkpoints.intermediate_dir(study, study.scale("s"), "fake-colour", 0)
    path.mkdir(parents=True)
    (path / "model.safetensors").write_bytes(b"truncated")  # a killed save: no marker
    run_cell(study, Cell("target", "s", "fake-colour", 0, "fake-colour-x"), progress=False)
    assert checkpoints.is_complete(path)


def test_params_counted_from_config(tmp_path):
    small = make_encoder_checkpoint(tmp_path / "small", layers=1, hidden=16)
    big = make_encoder_checkpoint(tmp_path / "big", layers=2, hidden=64)
    from xw.models import count_parameters_from_config

    assert count_parameters_from_config(big) > 4 * count_parameters_from_config(small)


def test_params_counted_from_a_local_config_of_xlmr_large_shape(tmp_path):
    """XLM-R Large's shape counted on the meta device from config.json alone: no weights, no download."""
    import json

    from xw.models import count_parameters_from_config

    hidden, layers, ffn, vocab, positions = 1024, 24, 4096, 250002, 514
    config = {"model_type": "xlm-roberta", "architectures": ["XLMRobertaForMaskedLM"], "hidden_size": hidden,
              "num_hidden_layers": layers, "num_attention_heads": 16, "intermediate_size": ffn,
              "vocab_size": vocab, "max_position_embeddings": positions, "type_vocab_size": 1,
              "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "layer_norm_eps": 1e-5}
    (tmp_path / "config.json").write_text(json.dumps(config))
    embeddings = (vocab + positions + 1) * hidden + 2 * hidden  # word, position, token type, LayerNorm
    layer = 4 * (hidden * hidden + hidden) + (hidden * ffn + ffn) + (ffn * hidden + hidden) + 2 * 2 * hidden
    pooler = hidden * hidden + hidden
    expected = embeddings + layers * layer + pooler
    assert expected == 559_890_432  # the "560M" of the XLM-R paper / fairseq README
    assert count_parameters_from_config(tmp_path) == expected
    assert not any(p.name.endswith((".safetensors", ".bin")) for p in tmp_path.iterdir())


def test_intermediate_key_survives_moving_outputs_but_not_a_change_of_recipe(tmp_path):
    """Keyed by what determines the checkpoint: the same recipe under another output root maps to the same
    name (so a moved or copied outputs/ is reused), another pretraining budget to another one."""
    raw = {"study": "keys", "data": {"source": "miniworld"},
           "models": {"family": "mini-xlmr", "pretrain": {"steps": 10},
                      "ladder": [{"name": "s", "layers": 1, "hidden": 16, "heads": 2}]},
           "intermediate_tasks": ["none", "mini-entail"], "target_tasks": ["mini-pos"], "seeds": [0]}
    path = tmp_path / "keys.yaml"
    path.write_text(yaml.safe_dump(raw))
    here, there = (load_study(path, output_root=tmp_path / root) for root in ("a", "b"))
    name = checkpoints.intermediate_dir(here, here.scale("s"), "mini-entail", 0).name
    assert checkpoints.intermediate_dir(there, there.scale("s"), "mini-entail", 0).name == name
    raw["models"]["pretrain"]["steps"] = 20
    path.write_text(yaml.safe_dump(raw))
    longer = load_study(path, output_root=tmp_path / "a")
    assert checkpoints.intermediate_dir(longer, longer.scale("s"), "mini-entail", 0).name != name
