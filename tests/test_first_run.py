"""What a researcher meets in the first hour pointing xw at their own checkpoint (issue 15), one test each."""

from __future__ import annotations

import json
from pathlib import Path

import fake_tasks
import pytest
import yaml
from conftest import make_encoder_checkpoint, make_tokenizer

from xw import cli
from xw.errors import DataNotFoundError, ParameterError
from xw.params import TrainConfig
from xw.study import load_study, study_from_dict
from xw.tasks import RetrievalSet


def _write(path: Path, raw: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw))
    return path


def _hub_study(**extra) -> dict:
    return {"study": "real", "data": {"source": "hub"}, "models": {"ladder": [{"name": "b", "hub": "some/model"}]},
            "intermediate_tasks": ["none"], "target_tasks": ["udpos"], **extra}


# 1 --------------------------------------------------------------------------------------------------------------

def test_a_relative_rung_path_is_read_from_the_study_folder_and_stored_absolute(tmp_path, monkeypatch):
    make_encoder_checkpoint(tmp_path / "models" / "tiny")
    raw = fake_tasks.study_dict({"s": "../models/tiny"})
    study_file = _write(tmp_path / "studies" / "mine.yaml", raw)
    elsewhere = tmp_path / "notebooks"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # where cells run: not where the study was written
    study = load_study(study_file, "outputs")
    assert study.ladder[0].path == str((tmp_path / "models" / "tiny").resolve())
    assert study.output_root == (elsewhere / "outputs").resolve() and study.output_root.is_absolute()


# 2 --------------------------------------------------------------------------------------------------------------

def test_an_unknown_language_fails_at_load_with_the_near_miss(tmp_path):
    with pytest.raises(ParameterError, match=r"'jp'.*did you mean 'ja'.*allowed .*'de'"):
        study_from_dict(_hub_study(languages=["en", "de", "jp"]), tmp_path / "s.yaml")


def test_a_target_with_none_of_the_languages_is_named_at_load(tmp_path):
    raw = _hub_study(languages=["sw"])
    raw["target_tasks"] = ["udpos", "xnli"]  # sw is an XNLI language, not a UD one
    with pytest.raises(ParameterError, match=r"target 'udpos' has none of \['sw'\]"):
        study_from_dict(raw, tmp_path / "s.yaml")


def test_no_evaluation_data_names_task_language_and_where_it_looked(tiny_checkpoint, tmp_path):
    from xw.phases import _languages_with_data
    from xw.tasks import get_task

    study = study_from_dict(fake_tasks.study_dict({"s": str(tiny_checkpoint)}), tmp_path / "s.yaml")

    def load(language: str):
        raise DataNotFoundError(f"task 'fake-bitext': no 'test' data for language {language!r}. Looked at: /d/{language}")

    with pytest.raises(DataNotFoundError) as err:
        _languages_with_data(study, get_task("fake-bitext"), load)
    assert "see the warnings above" not in str(err.value)
    assert "Looked at: /d/xx" in str(err.value) and "Looked at: /d/yy" in str(err.value)


# 3 --------------------------------------------------------------------------------------------------------------

def test_a_rung_path_that_is_not_a_model_is_one_error_line(tmp_path, capsys):
    make_tokenizer(tmp_path / "tokenizer-only")
    raw = fake_tasks.study_dict({"mine": str(tmp_path / "tokenizer-only")})
    study_file = _write(tmp_path / "s.yaml", raw)
    with pytest.raises(ParameterError, match=r"rung 'mine'.*not a model checkpoint: no config\.json"):
        load_study(study_file)
    assert cli.main(["status", str(study_file), "--output-root", str(tmp_path / "out")]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("xw: error:") and "no config.json" in err[0]


def test_a_checkpoint_without_weights_or_tokenizer_is_named(tmp_path):
    ckpt = make_encoder_checkpoint(tmp_path / "c")
    (ckpt / "model.safetensors").unlink()
    with pytest.raises(ParameterError, match="rung 's'.*no weights"):
        study_from_dict(fake_tasks.study_dict({"s": str(ckpt)}), tmp_path / "s.yaml")


def test_load_encoder_on_a_folder_transformers_cannot_read_is_a_user_error(tmp_path):
    from xw.errors import XWError
    from xw.models import load_encoder

    (tmp_path / "config.json").write_text(json.dumps({"hidden_size": 8}))  # no model_type
    with pytest.raises(XWError, match=str(tmp_path)):
        load_encoder(tmp_path)


# 4 --------------------------------------------------------------------------------------------------------------

def test_biggest_scale_first_is_by_counted_parameters_not_ladder_position(tmp_path):
    from xw.scheduler import scale_cost

    big = make_encoder_checkpoint(tmp_path / "big", layers=2, hidden=64)
    small = make_encoder_checkpoint(tmp_path / "small", layers=1, hidden=16)
    study = study_from_dict(fake_tasks.study_dict({"big": str(big), "small": str(small)}), tmp_path / "s.yaml")
    cost = scale_cost(study)
    assert cost["big"] > 4 * cost["small"]


# 5 --------------------------------------------------------------------------------------------------------------

def test_a_pooler_absent_from_the_checkpoint_is_not_counted(tmp_path):
    from transformers import BertConfig, BertModel

    from xw.models import count_parameters_from_config

    config = BertConfig(vocab_size=100, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=40)
    model = BertModel(config, add_pooling_layer=False)
    model.save_pretrained(tmp_path / "nopool")
    assert count_parameters_from_config(tmp_path / "nopool") == sum(p.numel() for p in model.parameters())
    with_pooler = BertModel(config)
    with_pooler.save_pretrained(tmp_path / "pool")
    assert count_parameters_from_config(tmp_path / "pool") == sum(p.numel() for p in with_pooler.parameters())


# 6 --------------------------------------------------------------------------------------------------------------

def test_subsample_retrieval_keeps_gold_pairs_and_a_share_of_distractors():
    from xw.data import subsample_retrieval

    sources = [f"s{i}" for i in range(20)]
    targets = [f"t{i}" for i in range(20)] + [f"d{i}" for i in range(20)]  # 20 gold targets, 20 distractors
    data = RetrievalSet(sources, sources, targets, targets, [(f"s{i}", f"t{i}") for i in range(20)])
    small = subsample_retrieval(data, 5)
    assert len(small.source_ids) == 5 and len(small.gold) == 5
    assert {t for _, t in small.gold} <= set(small.target_ids) and len(small.target_ids) == 10
    assert subsample_retrieval(data, 5) == small  # the same subsample for every seed and scale


def test_retrieval_honours_max_eval_examples_and_records_it(tiny_checkpoint, tmp_path, monkeypatch):
    from xw import phases

    raw = fake_tasks.study_dict({"s": str(tiny_checkpoint)})
    raw["intermediate_tasks"], raw["target_tasks"] = ["none"], ["fake-bitext"]
    raw["training"]["tasks"] = {"fake-bitext": {"max_eval_examples": 4}}
    study = study_from_dict(raw, tmp_path / "s.yaml", tmp_path / "out")
    sizes = []

    def spy(model, tokenizer, task, test, dev, *args):
        sizes.append((len(test.source_ids), len(test.target_ids)))
        return {"accuracy": 50.0}

    monkeypatch.setattr(phases, "evaluate_retrieval", spy)
    rows = phases.run_intermediate_cell(study, "s", "none", 0, progress=False)
    assert sizes == [(4, 4), (4, 4)]  # of 10 pairs, per language
    assert json.loads(rows[0]["hyperparameters"])["max_eval_examples"] == {"fake-bitext": 4}


# 7 --------------------------------------------------------------------------------------------------------------

def test_error_messages_quote_a_key_once(tmp_path):
    raw = fake_tasks.study_dict({"s": "x"})
    raw["models"]["ladder"] = [{"name": "s", "layers": 1, "hidden": 8, "heads": 2}]
    raw.update(intermediate_tasks=["none"], target_tasks=["mini-pos"], training={"tasks": {"sst2": {}}})
    with pytest.raises(ParameterError) as err:
        study_from_dict(raw, tmp_path / "s.yaml")
    assert "key 'training.tasks.sst2':" in str(err.value)


# 8 --------------------------------------------------------------------------------------------------------------

def _sentencepiece_like_tokenizer():
    """A Unigram vocabulary like XLM-R's for CJK: "▁" and the characters, but no "▁<character>" pieces."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from xw.miniworld.tokenizer import xlmr_fast_tokenizer

    vocab = [(t, 0.0) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] + [("▁", -1.0), ("猫", -2.0),
                                                                              ("学生", -2.0), ("▁the", -1.0)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=3))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    return xlmr_fast_tokenizer(tok)


@pytest.mark.parametrize("rule, labelled", [("first", ["▁", "▁", "▁the"]), ("first_nonempty", ["猫", "学生", "▁the"])])
def test_tagging_label_piece_rule(rule, labelled):
    from xw.kinds import IGNORE
    from xw.kinds.tagging import featurize_tagging

    tokenizer = _sentencepiece_like_tokenizer()
    feature = featurize_tagging([{"tokens": ["猫", "学生", "the"], "tags": [1, 2, 3]}], tokenizer, 32, rule)[0]
    pieces = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    assert [p for p, label in zip(pieces, feature["labels"], strict=True) if label != IGNORE] == labelled
    assert [label for label in feature["labels"] if label != IGNORE] == [1, 2, 3]


def test_tagging_label_piece_is_a_checked_option_recorded_with_the_rows(tmp_path):
    from xw.results import hyperparameters_json

    raw = fake_tasks.study_dict({"s": "x"})
    raw["models"]["ladder"] = [{"name": "s", "layers": 1, "hidden": 8, "heads": 2}]
    raw.update(intermediate_tasks=["none"], target_tasks=["mini-pos"],
               training={"tasks": {"mini-pos": {"tagging_label_piece": "first_nonempty"}}})
    study = study_from_dict(raw, tmp_path / "s.yaml")
    assert study.train_config("mini-pos").tagging_label_piece == "first_nonempty"
    assert TrainConfig().tagging_label_piece == "first"  # XTREME's rule stays the default
    assert json.loads(hyperparameters_json(target=study.train_config("mini-pos")))["target"][
        "tagging_label_piece"] == "first_nonempty"
    raw["training"]["tasks"]["mini-pos"]["tagging_label_piece"] = "last"
    with pytest.raises(ParameterError, match="tagging_label_piece.*allowed: \\['first', 'first_nonempty'\\]"):
        study_from_dict(raw, tmp_path / "s.yaml")
