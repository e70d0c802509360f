"""The ``xw`` command's researcher-facing edges: --version, `xw tasks`, SIGPIPE, plan's exit code, grid's
memory check."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from xw import cli
from xw.errors import DataNotFoundError
from xw.tasks import TaskSpec, override

ROOT = Path(__file__).resolve().parents[1]


def _missing(split, language, config):
    raise DataNotFoundError(f"no {split} file for {language} under /nowhere/xnli-like; download it there")


@pytest.fixture()
def cli_tasks():
    specs = [TaskSpec(name="cli-int", kind="classification", family="classification", role="intermediate",
                      languages=("en",), metric="accuracy", label_names=("a", "b"), loader=_missing,
                      data_hint="put cli-int files under data.root/cli-int"),
             TaskSpec(name="cli-cls", kind="classification", family="classification", role="target",
                      languages=("en", "de"), metric="accuracy", label_names=("a", "b"),
                      loader=lambda split, language, config: [{"text": "a b", "label": 0}] * 4)]
    with override(*specs):
        yield specs


def _study(tmp_path: Path, **xl) -> Path:
    raw = {"study": "clitest", "models": {"ladder": [{"name": "base", "hub": "xlm-roberta-base", **xl}]},
           "intermediate_tasks": ["none", "cli-int"], "target_tasks": ["cli-cls"], "seeds": [0]}
    path = tmp_path / "clitest.yaml"
    path.write_text(json.dumps(raw))
    return path


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["--version"])
    assert info.value.code == 0
    out = capsys.readouterr().out.split()
    assert out[0] == "xw" and out[1][0].isdigit()


def test_tasks_lists_every_task_with_its_data(tmp_path, cli_tasks, capsys):
    assert cli.main(["tasks"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert {"cli-int", "cli-cls", "xnli", "tatoeba"} <= set(lines)  # built-in XTREME tasks too
    assert "classification" in lines["cli-int"] and "train/dev/test" in lines["cli-int"]
    assert "accuracy" in lines["cli-int"] and "put cli-int files under data.root/cli-int" in lines["cli-int"]
    assert "en,de" in lines["cli-cls"]

    assert cli.main(["tasks", str(_study(tmp_path)), "--output-root", str(tmp_path / "out")]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert "not found (train/en)" in lines["cli-int"] and "/nowhere/xnli-like" in lines["cli-int"]
    assert "found (train/en" in lines["cli-cls"] and "not found" not in lines["cli-cls"]


def test_plan_refuses_when_data_is_missing(tmp_path, cli_tasks, capsys):
    code = cli.main(["plan", str(_study(tmp_path)), "--output-root", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == cli.EXIT_USER_ERROR
    assert "no training data found for ['cli-int']" in err and "/nowhere/xnli-like" in err


def test_plan_refuses_an_unknown_model_config(tmp_path, cli_tasks, capsys):
    raw = json.loads(_study(tmp_path).read_text())
    raw["models"]["ladder"] = [{"name": "odd", "hub": "someone/not-a-known-model"}]
    raw["intermediate_tasks"] = ["none"]
    path = tmp_path / "odd.yaml"
    path.write_text(json.dumps(raw))
    assert cli.main(["plan", str(path), "--output-root", str(tmp_path / "out")]) == cli.EXIT_USER_ERROR
    assert "someone/not-a-known-model" in capsys.readouterr().err


def test_grid_refuses_a_rung_that_cannot_fit_before_anything_runs(tmp_path, cli_tasks, capsys, monkeypatch):
    import xw.grid

    def must_not_run(*args, **kwargs):
        raise AssertionError("run_grid was called for a study that cannot fit")

    monkeypatch.setattr(xw.grid, "run_grid", must_not_run)
    path = _study(tmp_path)
    raw = json.loads(path.read_text())
    raw["models"]["ladder"] = [{"name": "xl", "hub": "facebook/xlm-roberta-xl"}]
    raw["training"] = {"default": {"batch_size": 32, "max_length": 512}}
    path.write_text(json.dumps(raw))
    assert cli.main(["grid", str(path), "--output-root", str(tmp_path / "out")]) == cli.EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "rung 'xl' needs" in err and "GiB per GPU" in err
    assert not (tmp_path / "out" / "clitest" / "notebooks").exists()


def test_status_into_head_exits_quietly():
    """`xw status paper.yaml | head -1`: 40 kB of lines into a 4 kB pipe whose reader left after one line."""
    import fcntl
    import os

    read_end, write_end = os.pipe()
    fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), 4096)  # smaller than the output, as head's
    proc = subprocess.Popen([sys.executable, "-m", "xw.cli", "status", str(ROOT / "parameters" / "paper.yaml"),
                             "--output-root", "/nonexistent-xw-out"], stdout=write_end,
                            stderr=subprocess.PIPE, cwd=ROOT)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        assert reader.readline()
    # the reader left, as `head -1` does
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert proc.returncode == 141
