"""Dataset revisions (issue 14): every row names the data it came from (local files' hashes, hub revisions),
a changed data file trains a new intermediate checkpoint, and a pinned hub revision reaches load_dataset."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import fake_tasks
import pytest
import yaml

from xw import checkpoints
from xw.cells import Cell, run_cell
from xw.errors import ParameterError
from xw.study import load_study, study_from_dict
from xw.tasks import DataConfig, TaskSpec, override
from xw.tasks.revision import recording, split_revision
from xw.xtreme import hub


def file_colour_loader(split: str, language: str, data: DataConfig) -> datasets.Dataset:
    """English colour sentences read from <data.root>/colour.tsv through xw's own parser."""
    from xw.xtreme.readers import read_tsv_rows

    rows = read_tsv_rows(Path(data.root) / "colour.tsv")
    return datasets.Dataset.from_list([{"text": text, "label": int(label)} for text, label in rows])


FILE_COLOUR = TaskSpec(name="fake-file-colour", kind="classification", family="classification", role="intermediate",
                       languages=("en",), metric="accuracy", loader=file_colour_loader, label_names=("blue", "red"),
                       primary_metric="accuracy")


def _write_data(root: Path, n: int) -> None:
    root.mkdir(exist_ok=True)
    rows = fake_tasks._sentences(n, seed=3)
    (root / "colour.tsv").write_text("".join(f"{text}\t{label}\n" for text, label in rows))


@pytest.fixture
def local_study(tmp_path, tiny_checkpoint):
    _write_data(tmp_path / "data", 24)
    raw = fake_tasks.study_dict({"s": str(tiny_checkpoint)})
    raw.update(data={"source": "local", "root": str(tmp_path / "data")},
               intermediate_tasks=["none", "fake-file-colour"], target_tasks=["fake-colour-x"])
    raw["training"]["default"]["epochs"] = 1
    path = tmp_path / "local.yaml"
    path.write_text(yaml.safe_dump(raw))
    with override(FILE_COLOUR):
        yield lambda: load_study(path, output_root=tmp_path / "outputs")


def test_rows_name_the_files_read_and_a_changed_file_trains_a_new_checkpoint(local_study, tmp_path):
    study = local_study()
    cell = Cell("target", "s", "fake-file-colour", 0, "fake-colour-x")
    key = checkpoints.intermediate_dir(study, study.scale("s"), "fake-file-colour", 0)
    assert checkpoints.intermediate_dir(study, study.scale("s"), "fake-file-colour", 0) == key  # stable
    rows = run_cell(study, cell, progress=False)
    revision = json.loads(rows.data_revision.iloc[0])
    assert set(rows.data_revision) == {rows.data_revision.iloc[0]}  # the fake target reads no file
    assert list(revision["files"]) == ["colour.tsv"] and len(revision["files"]["colour.tsv"]) == 16
    assert checkpoints.is_complete(key)

    _write_data(tmp_path / "data", 23)  # other bytes in the same file
    changed = local_study()
    new_key = checkpoints.intermediate_dir(changed, changed.scale("s"), "fake-file-colour", 0)
    assert new_key != key and not checkpoints.is_complete(new_key)
    assert checkpoints.stale_checkpoints(changed) == [key]
    again = run_cell(changed, cell, progress=False)
    assert json.loads(again.data_revision.iloc[0])["files"]["colour.tsv"] != revision["files"]["colour.tsv"]
    assert checkpoints.is_complete(new_key)


def test_generated_data_has_an_empty_revision_and_keeps_its_key(tmp_path, tiny_checkpoint):
    study = fake_tasks.load_fake_study(tmp_path, {"s": str(tiny_checkpoint)})
    rows = run_cell(study, Cell("target", "s", "none", 0, "fake-colour-x"), progress=False)
    assert set(rows.data_revision) == {"{}"}
    assert checkpoints.intermediate_data_revision(study, "fake-colour") == {"fake-colour": {}}


def _captured(monkeypatch, cache_file: str | None = None) -> list[dict]:
    calls = []

    def load_dataset(path, name=None, **kwargs):
        calls.append({"path": path, "name": name, **kwargs})
        ds = datasets.Dataset.from_list([{"x": 1}])
        if cache_file:
            monkeypatch.setattr(type(ds), "cache_files", property(lambda self: [{"filename": cache_file}]))
        return ds

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_a_pinned_hub_revision_is_passed_to_load_dataset_and_recorded(monkeypatch):
    calls = _captured(monkeypatch)
    part = hub.HubPart(hub.XTREME, "XNLI", "validation", lambda d: d)
    config = DataConfig(source="hub", revisions={hub.XTREME: "abc123"})
    with recording() as reads:
        hub._fetch("xnli", "dev", "de", part, config)
    assert calls[0]["revision"] == "abc123" and calls[0]["split"] == "validation"
    assert reads.hub == {hub.XTREME: "abc123"}


def test_an_unpinned_hub_dataset_records_the_commit_its_cache_names(monkeypatch):
    sha = "0123456789abcdef0123456789abcdef01234567"
    calls = _captured(monkeypatch, f"/cache/google___xtreme/XNLI/0.0.0/{sha}/xtreme-validation.arrow")
    part = hub.HubPart(hub.XTREME, "XNLI", "validation", lambda d: d)
    with recording() as reads:
        hub._fetch("xnli", "dev", "de", part, DataConfig(source="hub"))
    assert "revision" not in calls[0] and reads.hub == {hub.XTREME: f"resolved:{sha}"}


def _hub_study(tmp_path, revisions=None, source="hub"):
    raw = {"study": "h", "data": {"source": source, **({"revisions": revisions} if revisions is not None else {})},
           "models": {"ladder": [{"name": "b", "hub": "some/model"}]},
           "intermediate_tasks": ["none", "mnli"], "target_tasks": ["udpos"]}
    if source == "local":
        raw["data"]["root"] = str(tmp_path)
    return study_from_dict(raw, tmp_path / "h.yaml", tmp_path / "o")


def test_a_hub_pin_reaches_the_loaders_and_the_intermediate_key_without_network(tmp_path):
    from xw.data import data_config

    pinned = _hub_study(tmp_path, {"nyu-mll/glue": "abc123"})
    assert data_config(pinned).revisions == {"nyu-mll/glue": "abc123"}
    assert checkpoints.intermediate_data_revision(pinned, "mnli") == {"mnli": {"hub": {"nyu-mll/glue": "abc123"}}}
    unpinned = _hub_study(tmp_path)
    assert split_revision(fake_tasks.FAKE_INTERMEDIATE, "train", "en", data_config(unpinned)) == {}
    scale = pinned.ladder[0]
    assert (checkpoints.intermediate_dir(pinned, scale, "mnli", 0)
            != checkpoints.intermediate_dir(unpinned, unpinned.ladder[0], "mnli", 0))


@pytest.mark.parametrize(("revisions", "source", "message"), [
    ({"google/xtrem": "abc"}, "hub", "did you mean 'google/xtreme'"),
    ({"google/xtreme": ""}, "hub", "branch, tag or commit sha"),
    ({"google/xtreme": 1234567}, "hub", "branch, tag or commit sha"),
    ({"google/xtreme": "abc"}, "local", "data.source is 'local'"),
    (["google/xtreme"], "hub", "expected a mapping"),
])
def test_bad_data_revisions_are_one_clear_error(tmp_path, revisions, source, message):
    with pytest.raises(ParameterError, match=message) as err:
        _hub_study(tmp_path, revisions, source)
    assert "data.revisions" in str(err.value)
