"""Every number traceable (issue 14): versions and revisions in rows, cache keys that change with them, Parquet."""

from __future__ import annotations

import json

import fake_tasks
import pandas as pd
import pytest

from xw import checkpoints, provenance
from xw.cells import Cell, run_cell
from xw.errors import ParameterError
from xw.results import collect
from xw.study import study_from_dict


def _study(tmp_path, ladder):
    return fake_tasks.load_fake_study(tmp_path, ladder)


def test_rows_carry_versions_revisions_and_curve_and_parquet_round_trips(tmp_path, tiny_checkpoint):
    study = _study(tmp_path, {"s": str(tiny_checkpoint)})
    frame = run_cell(study, Cell("target", "s", "none", 0, "fake-colour-x"), progress=False)
    versions = json.loads(frame["library_versions"].iloc[0])
    assert {"xw", "torch", "transformers", "datasets", "tokenizers", "cuda", "cudnn"} <= set(versions)
    assert versions["torch"] == provenance.library_versions()["torch"] != "absent"
    assert frame["model_revision"].str.startswith("sha256:").all()
    assert frame["git_describe"].iloc[0] and frame["xw_version"].iloc[0] == "0.1.0"
    assert frame["train_initial_loss"].notna().all() and frame["train_diverged"].notna().all()
    out = collect(study)
    back = pd.read_parquet(out.with_suffix(".parquet"))
    assert len(back) == len(pd.read_csv(out)) and back["model_revision"].tolist() == frame["model_revision"].tolist()


def test_the_model_revision_is_a_content_hash_that_changes_with_the_weights(tmp_path, tiny_checkpoint):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_checkpoint, copy)
    first = provenance.model_revision(str(copy))
    assert first == provenance.model_revision(str(copy)) == provenance.model_revision(str(tiny_checkpoint))
    config = json.loads((copy / "config.json").read_text())
    (copy / "config.json").write_text(json.dumps({**config, "layer_norm_eps": 1e-6}))
    assert provenance.model_revision(str(copy)) != first


def _hub(revision=None):
    scale = {"name": "b", "hub": "some/model", **({"revision": revision} if revision else {})}
    return {"study": "h", "data": {"source": "hub"}, "models": {"ladder": [scale]},
            "intermediate_tasks": ["none"], "target_tasks": ["udpos"]}


def test_a_pinned_revision_changes_the_cache_key_and_the_key_is_stable(tmp_path):
    pinned = study_from_dict(_hub("abc123"), tmp_path / "h.yaml", tmp_path / "o")
    other = study_from_dict(_hub("def456"), tmp_path / "h.yaml", tmp_path / "o")
    assert pinned.ladder[0].revision == "abc123"
    key = checkpoints.pretrained_key(pinned, pinned.ladder[0])
    assert key == checkpoints.pretrained_key(pinned, pinned.ladder[0])  # same installation, same key
    assert key != checkpoints.pretrained_key(other, other.ladder[0])


def test_a_library_major_upgrade_changes_the_key_and_status_calls_the_old_checkpoint_stale(tmp_path, monkeypatch):
    study = study_from_dict({**_hub(), "intermediate_tasks": ["none", "mnli"]}, tmp_path / "h.yaml", tmp_path / "o")
    scale = study.ladder[0]
    old = checkpoints.intermediate_dir(study, scale, "mnli", 0)
    old.mkdir(parents=True)
    (old / checkpoints.MARKER).write_text("{}")
    assert checkpoints.stale_checkpoints(study) == []
    monkeypatch.setattr(provenance, "key_versions", lambda: {"torch": "99", "transformers": "9", "tokenizers": "1"})
    monkeypatch.setattr(checkpoints, "key_versions", provenance.key_versions)
    assert checkpoints.intermediate_dir(study, scale, "mnli", 0) != old
    assert checkpoints.stale_checkpoints(study) == [old]


def test_a_revision_without_a_hub_model_is_refused(tmp_path, tiny_checkpoint):
    raw = fake_tasks.study_dict({"s": str(tiny_checkpoint)})
    raw["models"]["ladder"][0]["revision"] = "main"
    with pytest.raises(ParameterError, match="revision"):
        study_from_dict(raw, tmp_path / "s.yaml", tmp_path / "o")


def test_the_report_header_names_versions_and_a_diverged_training(tmp_path, tiny_checkpoint):
    from xw.layout import results_path
    from xw.report import provenance_html

    study = _study(tmp_path, {"s": str(tiny_checkpoint)})
    results_path(study).parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame([{"scale": "s", "intermediate_task": "none", "target_task": "fake-colour-x", "seed": 0,
                   "train_diverged": True},
                  {"scale": "s", "intermediate_task": "fake-colour", "target_task": "fake-colour-x", "seed": 0,
                   "train_diverged": False}]).to_csv(results_path(study), index=False)
    page = provenance_html(study)
    assert provenance.git_describe() in page and f"torch {provenance.library_versions()['torch']}" in page
    assert "s/none/fake-colour-x/seed0" in page and "s/fake-colour/" not in page


def test_the_report_header_names_the_versions_the_rows_were_computed_with(tmp_path, tiny_checkpoint):
    """Not the report-building install's: rows from two setups are both named, with their row counts."""
    import json

    from xw.layout import results_path
    from xw.report import provenance_html

    study = _study(tmp_path, {"s": str(tiny_checkpoint)})
    results_path(study).parent.mkdir(parents=True, exist_ok=True)
    old = json.dumps({"torch": "2.9.0", "transformers": "4.57.0"})
    new = json.dumps({"torch": "2.13.0", "transformers": "5.2.0"})
    rows = [{"scale": "s", "git_describe": "v0.1-3-gabc1234", "library_versions": old}] * 2 + [
        {"scale": "s", "git_describe": "v0.1-9-gdef5678-dirty", "library_versions": new}]
    pd.DataFrame(rows).to_csv(results_path(study), index=False)
    page = provenance_html(study)
    assert "2 different setups" in page
    assert "v0.1-3-gabc1234</code> · torch 2.9.0, transformers 4.57.0 (2 rows)" in page
    assert "v0.1-9-gdef5678-dirty</code> · torch 2.13.0, transformers 5.2.0 (1 rows)" in page
    pd.DataFrame(rows[:1]).to_csv(results_path(study), index=False)
    page = provenance_html(study)
    assert "Results computed with: <code>v0.1-3-gabc1234" in page
    assert f"this report built with <code>{provenance.git_describe()}</code>" in page
