"""Label sets read from the data (CCG supertags): resolved per study, used by heads and metrics."""

from __future__ import annotations

import fake_tasks  # noqa: F401 - registers the fake target used below
import pytest
import yaml

from xw import checkpoints
from xw.cells import Cell, run_cell
from xw.errors import DataNotFoundError, XWError
from xw.models import build_head_model
from xw.study import load_study
from xw.tasks import DataConfig, TaskSpec, get_task, label_names_of, with_label_names

CCG_TRAIN = [("the cat sees a dog .", "NP/N N (S[dcl]\\NP)/NP NP/N N ."),
             ("a dog runs .", "NP/N N S[dcl]\\NP ."),
             ("alice likes bob .", "NP (S[dcl]\\NP)/NP NP .")]
CCG_DEV = [("bob sees the cat .", "NP (S[dcl]\\NP)/NP NP/N N .")]


def write_ccg(root) -> None:
    """jiant-style CCG files: ``tokens<TAB>tags``, both space-separated."""
    folder = root / "intermediate" / "ccg"
    folder.mkdir(parents=True)
    for split, rows in (("train", CCG_TRAIN), ("dev", CCG_DEV)):
        (folder / f"{split}.tsv").write_text("".join(f"{words}\t{tags}\n" for words, tags in rows))


def test_label_names_loader_is_used_only_when_no_fixed_labels():
    calls = []
    spec = TaskSpec(name="derived", kind="tagging", family="tagging", role="intermediate", languages=("en",),
                    metric="accuracy", loader=lambda *a: None,
                    label_names_loader=lambda config: calls.append(config) or ("B", "A"))
    config = DataConfig(source="local")
    assert spec.num_labels == 0 and label_names_of(spec, config) == ("B", "A")
    resolved = with_label_names(spec, config)
    assert resolved.label_names == ("B", "A") and resolved.num_labels == 2 and resolved.name == "derived"
    xnli = get_task("xnli")
    assert with_label_names(xnli, config) is xnli  # fixed label sets are returned as they are
    assert len(calls) == 2


def test_unresolved_label_set_is_refused_by_the_head_builder(tiny_checkpoint):
    with pytest.raises(XWError, match="with_label_names"):
        build_head_model(tiny_checkpoint, get_task("ccg"))


def test_ccg_tag_set_comes_from_the_local_training_split(tmp_path):
    write_ccg(tmp_path)
    names = label_names_of(get_task("ccg"), DataConfig(source="local", root=tmp_path))
    assert names == tuple(sorted({t for _, tags in CCG_TRAIN for t in tags.split()}))
    with pytest.raises(DataNotFoundError, match="ccg"):
        label_names_of(get_task("ccg"), DataConfig(source="hub"))


def test_ccg_intermediate_cell_end_to_end(tmp_path, tiny_checkpoint):
    """CCG as an intermediate task: tag set from train, head trained, encoder cached, a target on top."""
    write_ccg(tmp_path / "data")
    raw = {"study": "ccg", "data": {"source": "local", "root": str(tmp_path / "data")},
           "models": {"family": "tiny", "ladder": [{"name": "s", "path": str(tiny_checkpoint)}]},
           "intermediate_tasks": ["none", "ccg"], "target_tasks": ["fake-colour-x"], "seeds": [0],
           "training": {"default": {"learning_rate": 2e-3, "batch_size": 2, "max_steps": 3, "max_length": 16}}}
    path = tmp_path / "ccg.yaml"
    path.write_text(yaml.safe_dump(raw))
    study = load_study(path, output_root=tmp_path / "outputs")
    run_cell(study, Cell("intermediate", "s", "ccg", 0), progress=False)
    assert checkpoints.is_complete(checkpoints.intermediate_dir(study, study.scale("s"), "ccg", 0))
    rows = run_cell(study, Cell("target", "s", "ccg", 0, "fake-colour-x"), progress=False)
    assert set(rows.language) == {"en", "xx", "yy"} and rows.value.between(0, 100).all()
