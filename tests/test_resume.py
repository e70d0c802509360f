"""Mid-cell checkpoints: a training killed (SIGKILL) after a checkpoint and re-run ends like an uninterrupted one.

Tiny XLM-R from config (fp32, dropout 0), gloo on CPU, one thread per rank. A job is killed by a wrapper
around ``xw.distributed`` that sends SIGKILL to every rank right after checkpoint ``KILL_AT`` is written;
re-running the same job resumes from it, with 2 ranks, or across 2 -> 1 and 1 -> 2.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import finish_jobs, make_tokenizer
from test_distributed import CLS, SEED, TAG, _encoder, _examples, _launch
from transformers import AutoModel

from xw.checkpoints import intermediate_dir
from xw.distributed import DONE, ENCODER, STEPS, JobTask, write_job
from xw.errors import ParameterError
from xw.featurize import featurize
from xw.models import build_head_model
from xw.params import TrainConfig
from xw.study_file import parse_study
from xw.train import train
from xw.train_state import complete_steps

TOL = 1e-6
TOTAL, EVERY, KEEP, KILL_AT = 10, 2, 2, 6
CONFIG = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": TOTAL, "max_grad_norm": 0.5,
          "checkpoint_every_steps": EVERY, "keep_checkpoints": KEEP}
MULTI_NAMES = ("multi-whole", "multi-two-one")
KILLER = """
import os, signal, sys
import xw.train_state as ts
from xw.distributed import main
save = ts.save
def killing_save(folder, step, *args, **kwargs):
    path = save(folder, step, *args, **kwargs)
    if step == {kill_at}:
        os.kill(os.getpid(), signal.SIGKILL)
    return path
ts.save = killing_save
sys.exit(main(sys.argv[1:]))
"""


def _launch_killer(script: Path, paths: list[Path], ranks: int) -> subprocess.Popen:
    command = [sys.executable, str(script)] if ranks == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(ranks), str(script)]
    return subprocess.Popen(command + [str(p) for p in paths], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def _wait(runs: list[tuple[subprocess.Popen, list[Path], bool]]) -> None:
    for process, paths, should_finish in runs:
        finish_jobs(process, paths, should_finish)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("resume")
    encoder = _encoder(root / "xlmr", xl=False)
    tokenizer = make_tokenizer(root / "tok")
    features = featurize(CLS, _examples("classification", 32), tokenizer, 32)
    script = root / "killer.py"
    script.write_text(KILLER.format(kill_at=KILL_AT))

    def job(name: str, also: tuple[JobTask, ...] = ()) -> Path:
        return write_job(root / f"{name}.json", CLS.name, str(encoder), "AutoModelForSequenceClassification",
                         {"num_labels": 2}, features, TrainConfig(**CONFIG), SEED, tokenizer.pad_token_id,
                         root / name, tokenizer=str(encoder), checkpoint_dir=root / f"{name}-ckpt", also=also)

    # a multi-task recipe: classification + tagging on one shared encoder
    tag = JobTask(TAG.name, "AutoModelForTokenClassification", {"num_labels": len(TAG.label_names)},
                  featurize(TAG, _examples("tagging", 30), tokenizer, 32))
    names = ("whole", "two-two", "one-two")
    jobs = {n: job(n) for n in names}
    jobs.update({n: job(n, also=(tag,)) for n in MULTI_NAMES})
    # wave 1: the uninterrupted references (2 ranks, checkpointing on), 2-rank and 1-process runs killed
    references = [jobs["whole"], jobs["multi-whole"]]
    _wait([(_launch(references, 2), references, True),
           (_launch_killer(script, [jobs["two-two"]], 2), [jobs["two-two"]], False),
           (_launch_killer(script, [jobs["one-two"]], 1), [jobs["one-two"]], False),
           (_launch_killer(script, [jobs["multi-two-one"]], 2), [jobs["multi-two-one"]], False)])
    kept = complete_steps(root / "two-two-ckpt")
    shutil.copytree(root / "two-two-ckpt", root / "two-one-ckpt")  # the same killed 2-rank run, resumed by 1
    jobs["two-one"] = job("two-one")
    # wave 2: resume 2 -> 2 and 1 -> 2 in one torchrun, 2 -> 1 in one process (the multi-task one too)
    both, ones = [jobs["two-two"], jobs["one-two"]], [jobs["two-one"], jobs["multi-two-one"]]
    _wait([(_launch(both, 2), both, True), (_launch(ones, 1), ones, True)])
    return {"root": root, "kept_while_running": kept}


def _steps(runs: dict, name: str) -> list[dict]:
    assert json.loads((runs["root"] / name / DONE).read_text())["steps"] == TOTAL
    return json.loads((runs["root"] / name / STEPS).read_text())


@pytest.mark.parametrize(("name", "tol"), [("two-two", 0.0), ("two-one", TOL), ("one-two", TOL),
                                           ("multi-two-one", TOL)])
def test_killed_run_resumes_to_the_uninterrupted_result(runs, name, tol):
    """... and a multi-task run's 2-rank checkpoint (one FSDP2 HeadSet root) resumes in one process."""
    reference = "multi-whole" if name in MULTI_NAMES else "whole"
    got, want = _steps(runs, name), _steps(runs, reference)
    assert [s["step"] for s in got] == list(range(1, TOTAL + 1))
    for key in ("loss", "grad_norm", "learning_rate"):
        diff = max(abs(a[key] - b[key]) for a, b in zip(got[KILL_AT:], want[KILL_AT:], strict=True))
        print(f"{name}: steps {KILL_AT + 1}-{TOTAL} max |{key} diff| {diff:.2e}")
        assert diff <= tol, (key, diff)
    assert [s["tokens"] for s in got] == [s["tokens"] for s in want]
    a = AutoModel.from_pretrained(runs["root"] / name / ENCODER, add_pooling_layer=False).state_dict()
    b = AutoModel.from_pretrained(runs["root"] / reference / ENCODER, add_pooling_layer=False).state_dict()
    worst = max(float((a[k] - b[k]).abs().max()) for k in b)
    print(f"{name}: final encoder max |weight diff| {worst:.2e}")
    assert worst <= tol * 10, worst


def test_only_the_newest_checkpoints_are_kept_and_none_after_the_end(runs):
    assert runs["kept_while_running"] == [KILL_AT - EVERY, KILL_AT]  # KEEP = 2 of the 3 written
    for name in ("whole", "two-two", "two-one", "one-two", *MULTI_NAMES):
        assert not (runs["root"] / f"{name}-ckpt").exists(), name


def test_minutes_trigger_and_unchanged_training_in_one_process(tmp_path):
    """checkpoint_every_minutes tiny: a checkpoint after every step, keep 1; the losses are those of no checkpoints."""
    encoder = _encoder(tmp_path / "xlmr", xl=False)
    tokenizer = make_tokenizer(tmp_path / "tok")
    features = featurize(CLS, _examples("classification", 16), tokenizer, 32)
    seen: list[list[int]] = []
    losses: dict[str, list[float]] = {"plain": [], "saving": []}
    for name, changes in (("plain", {}), ("saving", {"checkpoint_every_minutes": 1e-9, "keep_checkpoints": 1})):
        torch.manual_seed(SEED)
        model = build_head_model(encoder, CLS)
        folder = tmp_path / name

        def hook(log, name=name, folder=folder):
            losses[name].append(log.loss)
            seen.append(complete_steps(folder))

        train({CLS.name: (model, features)}, TrainConfig(learning_rate=1e-3, batch_size=4, max_steps=4, **changes),
              SEED, tokenizer.pad_token_id, torch.device("cpu"), progress=False, on_step=hook, checkpoint_dir=folder)
        assert not folder.exists()
    assert losses["plain"] == losses["saving"]
    assert seen[4:] == [[], [1], [2], [3]]  # on_step runs before the save of its step


def test_checkpoint_keys_are_checked_and_change_no_cache_key(tmp_path):
    def study(training: dict):
        raw = {"study": "s", "models": {"family": "mini", "ladder": [{"name": "s", "layers": 1, "hidden": 16,
                                                                      "heads": 2}]},
               "intermediate_tasks": ["i"], "target_tasks": ["t"], "training": {"default": training}}
        return parse_study(raw, tmp_path / "s.yaml", tmp_path, {"t": "target", "i": "intermediate"})

    base = study({})
    key = intermediate_dir(base, base.ladder[0], "i", 1)
    other = study({"checkpoint_every_steps": 100, "checkpoint_every_minutes": 30.0, "keep_checkpoints": 3})
    assert intermediate_dir(other, other.ladder[0], "i", 1) == key
    changed = study({"learning_rate": 1e-4})
    assert intermediate_dir(changed, changed.ladder[0], "i", 1) != key
    with pytest.raises(ParameterError, match=r"training.default.keep_checkpoints.*at least 1"):
        study({"keep_checkpoints": 0})
    with pytest.raises(ParameterError, match=r"training.default.checkpoint_every_minutes.*>= 0"):
        study({"checkpoint_every_minutes": -1.0})
