"""Stop signals and the torchrun launcher: save, stop, resume to the uninterrupted result; no orphan ranks.

Tiny XLM-R from config (fp32, dropout 0), gloo on CPU. A stop signal (Slurm's pre-timeout USR2) makes the
training save a checkpoint at the end of its step and raise TrainingPreempted; the re-run resumes there.
Under ``xw.launch.run_ranks`` the signal reaches the launcher (the cell's kernel), which forwards it to
torchrun, which forwards it to the ranks. A launcher killed with SIGKILL takes torchrun and every rank
with it (PR_SET_PDEATHSIG), although torchrun and its ranks run in sessions of their own.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
from conftest import make_tokenizer
from test_distributed import CLS, SEED, _encoder, _examples
from transformers import AutoModel

from xw import preemption
from xw.distributed import DONE, ENCODER, STEPS, write_job
from xw.errors import TrainingPreempted
from xw.featurize import featurize
from xw.launch import torchrun_command
from xw.models import build_head_model
from xw.params import TrainConfig
from xw.train import train
from xw.train_state import complete_steps

TOTAL = 10
# the launch tests: long enough that the run is still training when the signal, sent after step 3, arrives
# (10 steps of the tiny model finish on an idle machine before the launcher has forwarded it)
LAUNCH_TOTAL = 300
CONFIG = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": TOTAL, "max_grad_norm": 0.5}
ROOT = Path(__file__).resolve().parents[1]

LAUNCHER = """
import sys
from pathlib import Path
from xw import preemption
from xw.errors import TrainingPreempted
from xw.launch import run_ranks
job, out = Path(sys.argv[1]), Path(sys.argv[2])
try:
    with preemption.listening():
        run_ranks([job], [out], gpus=2)
except TrainingPreempted as stopped:
    print("PREEMPTED", stopped)
    sys.exit(3)
"""


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(ROOT)}


def _world(root: Path) -> tuple[Path, object, list]:
    """A tiny XLM-R encoder (dropout 0), its tokenizer and 32 classification training features."""
    encoder = _encoder(root / "xlmr", xl=False)
    tokenizer = make_tokenizer(root / "tok")
    return encoder, tokenizer, featurize(CLS, _examples("classification", 32), tokenizer, 32)


def _train(encoder: Path, features: list, pad: int, folder: Path, hook=None) -> tuple[list[float], dict]:
    torch.manual_seed(SEED)
    model = build_head_model(encoder, CLS)
    losses: list[float] = []

    def on_step(log):
        losses.append(log.loss)
        if hook:
            hook(log)

    with preemption.listening():
        train({CLS.name: (model, features)}, TrainConfig(**CONFIG), SEED, pad, torch.device("cpu"), progress=False,
              on_step=on_step, checkpoint_dir=folder)
    return losses, {k: v.clone() for k, v in model.state_dict().items()}


def test_a_stop_signal_saves_stops_and_the_rerun_resumes_exactly(tmp_path, monkeypatch):
    torch.set_num_threads(1)
    encoder, tokenizer, features = _world(tmp_path)
    whole, want = _train(encoder, features, tokenizer.pad_token_id, tmp_path / "whole")
    ack = tmp_path / "ack"
    monkeypatch.setenv(preemption.ACK_ENV, str(ack))

    def signal_at_step_4(log):
        if log.step == 4:
            os.kill(os.getpid(), signal.SIGUSR2)  # as Slurm does, 90 s before the time limit

    with pytest.raises(TrainingPreempted, match=r"stopped by SIGUSR2 after step 4 of 10.*Run the cell again"):
        _train(encoder, features, tokenizer.pad_token_id, tmp_path / "cut", signal_at_step_4)
    assert complete_steps(tmp_path / "cut") == [4]
    assert ack.read_text().strip().endswith("step-000004")
    assert signal.getsignal(signal.SIGUSR2) is signal.SIG_DFL  # listening() gave the old handler back
    rest, got = _train(encoder, features, tokenizer.pad_token_id, tmp_path / "cut")
    assert rest == whole[4:]  # exactly: same process, same numbers
    assert max(float((got[k] - want[k]).abs().max()) for k in want) == 0.0
    assert not (tmp_path / "cut").exists()


def _job(root: Path, encoder: Path, tokenizer, features: list, name: str) -> Path:
    return write_job(root / f"{name}.json", CLS.name, str(encoder), "AutoModelForSequenceClassification",
                     {"num_labels": 2}, features, TrainConfig(**{**CONFIG, "max_steps": LAUNCH_TOTAL}), SEED,
                     tokenizer.pad_token_id, root / name,
                     tokenizer=str(encoder), checkpoint_dir=root / f"{name}-ckpt")


def _launcher(root: Path, job: Path, out: Path) -> subprocess.Popen:
    script = root / "launcher.py"
    script.write_text(LAUNCHER)
    return subprocess.Popen([sys.executable, str(script), str(job), str(out)], env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait_for_steps(log: Path, steps: int, proc: subprocess.Popen, timeout_s: float = 300) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if log.is_file() and len(log.read_text().splitlines()) >= steps:
            return
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        time.sleep(0.2)
    raise AssertionError(f"no {steps} steps in {log} after {timeout_s} s")


def _ranks_of(job: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            if str(job) in " ".join(proc.info["cmdline"] or []) and "xw.distributed" in " ".join(proc.info["cmdline"]):
                found.append(proc)
        except psutil.Error:
            pass
    return found


@pytest.fixture(scope="module")
def launched(tmp_path_factory) -> dict:
    """An uninterrupted 2-rank launch, and one stopped by USR2 to its launcher after step 3, then re-launched."""
    root = tmp_path_factory.mktemp("launch")
    encoder, tokenizer, features = _world(root)
    jobs = {n: _job(root, encoder, tokenizer, features, n) for n in ("whole", "cut")}
    whole = _launcher(root, jobs["whole"], root / "whole")
    cut = _launcher(root, jobs["cut"], root / "cut")
    _wait_for_steps(root / "cut-ckpt" / "steps.jsonl", 3, cut)
    cut.send_signal(signal.SIGUSR2)
    cut_out, _ = cut.communicate(timeout=300)
    whole_out, _ = whole.communicate(timeout=300)
    saved = complete_steps(root / "cut-ckpt")
    again = _launcher(root, jobs["cut"], root / "cut")
    again_out, _ = again.communicate(timeout=300)
    return {"root": root, "cut": (cut.returncode, cut_out), "whole": (whole.returncode, whole_out),
            "again": (again.returncode, again_out), "saved": saved}


def test_a_stopped_launch_saves_on_every_rank_and_relaunch_matches_the_uninterrupted_one(launched):
    root = launched["root"]
    assert launched["whole"][0] == 0, launched["whole"][1][-3000:]
    code, out = launched["cut"]
    assert code == 3 and "PREEMPTED" in out and "stopped by SIGUSR2" in out, out[-3000:]
    assert len(launched["saved"]) == 1 and 3 <= launched["saved"][0] < LAUNCH_TOTAL  # the step it was on when told
    assert launched["again"][0] == 0, launched["again"][1][-3000:]
    got = json.loads((root / "cut" / STEPS).read_text())
    want = json.loads((root / "whole" / STEPS).read_text())
    assert [s["step"] for s in got] == list(range(1, LAUNCH_TOTAL + 1))
    assert max(abs(a["loss"] - b["loss"]) for a, b in zip(got, want, strict=True)) == 0.0
    a = AutoModel.from_pretrained(root / "cut" / ENCODER, add_pooling_layer=False).state_dict()
    b = AutoModel.from_pretrained(root / "whole" / ENCODER, add_pooling_layer=False).state_dict()
    assert max(float((a[k] - b[k]).abs().max()) for k in b) == 0.0
    assert json.loads((root / "cut" / DONE).read_text())["ranks"] == 2
    assert not (root / "cut-ckpt").exists()


def test_a_killed_launcher_leaves_no_rank_behind(tmp_path):
    encoder, tokenizer, features = _world(tmp_path)
    job = write_job(tmp_path / "long.json", CLS.name, str(encoder), "AutoModelForSequenceClassification",
                    {"num_labels": 2}, features, TrainConfig(**{**CONFIG, "max_steps": 100_000}), SEED,
                    tokenizer.pad_token_id, tmp_path / "long", checkpoint_dir=tmp_path / "long-ckpt")
    launcher = _launcher(tmp_path, job, tmp_path / "long")
    _wait_for_steps(tmp_path / "long-ckpt" / "steps.jsonl", 1, launcher)
    ranks = _ranks_of(job)
    assert len(ranks) >= 2, [p.cmdline() for p in ranks]  # torchrun and its ranks
    assert {p.pid for p in ranks}.isdisjoint({launcher.pid})
    assert all(os.getsid(p.pid) != os.getsid(launcher.pid) for p in ranks)  # a killpg of the launcher misses them
    launcher.kill()  # SIGKILL: no handler of the launcher runs
    launcher.wait()
    _, alive = psutil.wait_procs(ranks, timeout=30)
    assert not alive, [p.cmdline() for p in alive]
    assert not _ranks_of(job)


def test_multi_node_launch_goes_through_srun_with_a_c10d_rendezvous(monkeypatch):
    monkeypatch.setenv("SLURM_JOB_NODELIST", "gpu017,gpu018")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    one = torchrun_command([Path("j.json")], gpus=4)
    assert "--standalone" in one and one[one.index("--nproc-per-node") + 1] == "4"
    assert one[one.index("--signals-to-handle") + 1].split(",")[-1] == "SIGUSR2"
    two = torchrun_command([Path("j.json")], gpus=4, nodes=2)
    assert two[0] == "srun" and "--nodes=2" in two and "--standalone" not in two
    assert two[two.index("--rdzv-endpoint") + 1] == "gpu017:29500" and two[-2:] == ["xw.distributed", "j.json"]


def test_a_two_gpu_rung_trains_its_target_cell_under_torchrun_like_one_process(tmp_path):
    """The cell path end to end: rung "two" (gpus: 2) launches torchrun from run_target_cell, evaluates the
    exported head model, and gets the rows rung "one" (the same checkpoint, in-process) gets."""
    import fake_tasks
    import yaml
    from conftest import make_encoder_checkpoint

    from xw.cells import Cell, run_cell
    from xw.study import load_study

    checkpoint = make_encoder_checkpoint(tmp_path / "tiny")
    config = json.loads((checkpoint / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)  # 1 vs 2 ranks compare exactly
    (checkpoint / "config.json").write_text(json.dumps(config))
    raw = fake_tasks.study_dict({"one": str(checkpoint), "two": str(checkpoint)})
    raw["models"]["ladder"][1]["gpus"] = 2
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(raw))
    study = load_study(path, output_root=tmp_path / "outputs")
    rows = {rung: run_cell(study, Cell("target", rung, "none", 0, "fake-nouns-x"), progress=False)
            for rung in ("one", "two")}
    one, two = (rows[r].set_index(["language", "metric"]) for r in ("one", "two"))
    assert set(two.index.get_level_values("language")) == {"en", "xx", "yy"}
    assert (one["value"] - two["value"]).abs().max() <= 1e-6
    assert abs(one["train_final_loss"].iloc[0] - two["train_final_loss"].iloc[0]) <= 1e-5
    assert not (study.output_dir / "ranks").exists() or not any((study.output_dir / "ranks").iterdir())
    assert not any((study.output_dir / "resume").glob("*/step-*"))
    # phase (ii) on 2 ranks: the exported encoder is the cached checkpoint the retrieval rows come from
    ret = {rung: run_cell(study, Cell("intermediate", rung, "fake-colour", 0), progress=False).set_index(
        ["language", "metric"]) for rung in ("one", "two")}
    assert len(ret["two"]) and (ret["one"]["value"] - ret["two"]["value"]).abs().max() <= 1e-6
    assert abs(ret["one"]["train_final_loss"].iloc[0] - ret["two"]["train_final_loss"].iloc[0]) <= 1e-5
    # a multi-task recipe on 2 ranks: its members share one sharded encoder (xw.distributed.HeadSet)
    multi = {rung: run_cell(study, Cell("intermediate", rung, "multi", 0), progress=False).set_index(
        ["language", "metric"]) for rung in ("one", "two")}
    assert len(multi["two"]) and (multi["one"]["value"] - multi["two"]["value"]).abs().max() <= 1e-6
    assert abs(multi["one"]["train_final_loss"].iloc[0] - multi["two"]["train_final_loss"].iloc[0]) <= 1e-5
