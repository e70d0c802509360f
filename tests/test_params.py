"""Parameters files: valid ones load into typed objects; every user mistake names file, key and fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from xw.errors import ParameterError
from xw.study import load_study
from xw.tasks import TaskSpec, register

register(TaskSpec(name="fake-inter", kind="classification", family="classification", role="intermediate",
                  languages=("en",), metric="accuracy", loader=lambda *a: None, label_names=("a", "b")))
register(TaskSpec(name="fake-inter2", kind="classification", family="classification", role="intermediate",
                  languages=("en",), metric="accuracy", loader=lambda *a: None, label_names=("a", "b")))
register(TaskSpec(name="fake-target", kind="tagging", family="tagging", role="target",
                  languages=("en", "xx"), metric="accuracy", loader=lambda *a: None, label_names=("O", "X")))

VALID = {
    "study": "unit",
    "data": {"source": "miniworld", "world_seed": 3},
    "models": {"family": "mini", "pretrain": {"steps": 10},
               "ladder": [{"name": "s", "layers": 1, "hidden": 16, "heads": 2},
                          {"name": "m", "layers": 2, "hidden": 32, "heads": 4}]},
    "intermediate_tasks": ["none", "fake-inter", "fake-inter2", "multi"],
    "target_tasks": ["fake-target"],
    "seeds": [0, 1],
    "training": {"default": {"learning_rate": "1e-4", "epochs": 2}, "tasks": {"fake-target": {"epochs": 5}}},
    "executor": {"workers": 2},
}


def write(tmp_path: Path, data) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_valid_study_loads_typed(tmp_path):
    study = load_study(write(tmp_path, VALID), output_root=tmp_path / "out")
    assert study.name == "unit" and study.data.world_seed == 3
    assert [s.name for s in study.ladder] == ["s", "m"] and study.ladder[1].layers == 2
    assert study.training.learning_rate == 1e-4 and study.training.epochs == 2.0
    assert study.train_config("fake-target").epochs == 5.0
    assert study.train_config("fake-target").learning_rate == 1e-4  # inherits the default
    assert study.multi_task_members == ("fake-inter", "fake-inter2")
    assert study.output_dir == tmp_path / "out" / "unit"


def test_repository_parameter_files_are_valid():
    for path in sorted((Path(__file__).resolve().parents[1] / "parameters").glob("*.yaml")):
        try:
            load_study(path)
        except ParameterError as err:  # real-small's encoder is built on demand: unbuilt, the error names how
            if path.name != "real-small.yaml" or (Path.home() / ".cache/xw/me5-small/config.json").is_file():
                raise
            assert "build.sh" in str(err) and "me5-small" in str(err)


def _mutated(**changes):
    data = yaml.safe_load(yaml.safe_dump(VALID))
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split(".")
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is KeyError:
            del node[last]
        else:
            node[last] = value
    return data


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"intermediate_tasks": ["none", "no-such-task"]}, r"key 'intermediate_tasks': unknown task 'no-such-task'; allowed: \['none', 'multi'.*fake-inter"),
        ({"target_tasks": ["fake-inter"]}, r"'fake-inter' is a intermediate task"),
        ({"study": KeyError}, r"key 'study': missing"),
        ({"seeds": ["zero"]}, r"key 'seeds': expected an integer, got 'zero'"),
        ({"training.default.batch_size": "big"}, r"key 'training.default.batch_size': expected an integer"),
        ({"training.default.learnin_rate": 1.0}, r"training.default.learnin_rate': unknown key; allowed keys: .*learning_rate"),
        ({"executor.kind": "kubernetes"}, r"unknown executor 'kubernetes'; allowed: \['local', 'slurm'\]"),
        ({"models.ladder": []}, r"models.ladder': expected a non-empty list"),
        ({"data.source": "ftp"}, r"unknown source 'ftp'"),
        ({"models.ladder.0.heads": 3}, r"hidden 16 is not divisible by heads 3"),
        ({"surprise": 1}, r"key 'surprise': unknown key"),
        ({"intermediate_tasks": ["none", "fake-inter", "multi"]}, r"list at least two"),
        ({"training.default.epochs": -1}, r"must be >= 0"),
        ({"models.pretrain.parallel": 1.5}, r"key 'models.pretrain.parallel': must be between 0 and 1, got 1.5"),
        ({"models.pretrain.code_switch": 0.95}, r"models.pretrain.code_switch': parallel \+ code_switch .* at most 1"),
    ],
)
def test_bad_parameters_give_one_clear_message(tmp_path, changes, expected):
    path = write(tmp_path, _mutated(**changes))
    with pytest.raises(ParameterError, match=expected) as info:
        load_study(path)
    assert str(path) in str(info.value)


def test_malformed_yaml_names_the_file(tmp_path):
    path = write(tmp_path, "study: [unclosed\n  models: {")
    with pytest.raises(ParameterError, match="not valid YAML"):
        load_study(path)


def test_missing_file_and_missing_data_root(tmp_path):
    with pytest.raises(ParameterError, match="not found"):
        load_study(tmp_path / "nope.yaml")
    data = _mutated(**{"data": {"source": "local", "root": str(tmp_path / "no-data")}})
    data["models"]["ladder"] = [{"name": "base", "hub": "xlm-roberta-base"}]
    with pytest.raises(ParameterError, match=r"data folder .*no-data does not exist; run XTREME's scripts/download_data.sh"):
        load_study(write(tmp_path, data))


def test_data_options_reach_the_loaders_and_are_checked(tmp_path):
    """data.options is passed to every loader (mini-world split sizes here); a name the source's loaders do
    not read, a wrong type or an impossible value fails at load, naming the key."""
    from xw.data import data_config, load_examples
    from xw.tasks import get_task

    raw = {**VALID, "data": {"source": "miniworld", "world_seed": 0, "options": {"train_size": 60}}}
    study = load_study(write(tmp_path, raw))
    assert data_config(study).options == {"train_size": 60}
    assert len(load_examples(study, get_task("mini-pos"), "train", "en")) == 60
    for options, key, message in (({"train_sise": 60}, "data.options.train_sise", "unknown option"),
                                  ({"train_size": "many"}, "data.options.train_size", "expected an integer"),
                                  ({"train_size": 0}, "data.options.train_size", "at least 1"),
                                  ([1, 2], "data.options", "expected a mapping")):
        raw = {**VALID, "data": {"source": "miniworld", "options": options}}
        with pytest.raises(ParameterError, match=rf"key '{key}': .*{message}"):
            load_study(write(tmp_path, raw))
    raw = {**VALID, "data": {"source": "local", "root": str(tmp_path), "options": {"dev_train_fraction": 1.5}},
           "models": {"family": "x", "ladder": [{"name": "s", "path": str(tmp_path)}]}}
    with pytest.raises(ParameterError, match=r"key 'data.options.dev_train_fraction': must be between 0 and 1"):
        load_study(write(tmp_path, raw))
