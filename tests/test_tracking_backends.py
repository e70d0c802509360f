"""Tracking backends beside TensorBoard (issue 14): the study file's ``tracking:`` key, checked at load, and
W&B / MLflow runs fed every step. Neither package is installed here (nor in the lock): fakes stand in for
them in ``sys.modules``, recording what xw calls, so the tests check xw's side of the contract."""

from __future__ import annotations

import sys
import types

import fake_tasks
import pytest
import yaml

from xw.errors import ParameterError, XWError
from xw.study_file import parse_study
from xw.tracking import CurveWriter, read_curve, read_summary
from xw.train import StepLog


class FakeWandbRun:
    def __init__(self, calls: list, **kwargs) -> None:
        self.calls, self.summary = calls, {}
        calls.append(("init", kwargs))

    def log(self, metrics: dict, step: int) -> None:
        self.calls.append(("log", step, dict(metrics)))

    def finish(self, exit_code: int | None = None) -> None:
        self.calls.append(("finish", dict(self.summary), exit_code))


class FakeMlflowClient:
    def __init__(self, calls: list, tracking_uri: str | None = None) -> None:
        self.calls = calls
        calls.append(("client", tracking_uri))

    def get_experiment_by_name(self, name: str):
        self.calls.append(("get_experiment", name))
        return None

    def create_experiment(self, name: str) -> str:
        return "7"

    def create_run(self, experiment_id: str, run_name: str | None = None):
        self.calls.append(("create_run", experiment_id, run_name))
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id="run-1"))

    def log_metric(self, run_id: str, key: str, value: float, step: int | None = None) -> None:
        self.calls.append(("log_metric", run_id, key, value, step))

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.calls.append(("set_tag", key, value))

    def set_terminated(self, run_id: str, status: str = "FINISHED") -> None:
        self.calls.append(("terminated", run_id, status))


@pytest.fixture()
def fakes(monkeypatch):
    """Fake ``wandb`` and ``mlflow`` modules; returns their call logs."""
    calls: dict[str, list] = {"wandb": [], "mlflow": []}
    wandb = types.ModuleType("wandb")
    wandb.init = lambda **kwargs: FakeWandbRun(calls["wandb"], **kwargs)
    mlflow = types.ModuleType("mlflow")
    mlflow.MlflowClient = lambda tracking_uri=None: FakeMlflowClient(calls["mlflow"], tracking_uri)
    monkeypatch.setitem(sys.modules, "wandb", wandb)
    monkeypatch.setitem(sys.modules, "mlflow", mlflow)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return calls


def _raw(tracking) -> dict:
    return {"study": "trk", "models": {"ladder": [{"name": "s", "hub": "fake/model"}]},
            "intermediate_tasks": ["none"], "target_tasks": ["t"], "tracking": tracking}


def _parse(tmp_path, tracking):
    return parse_study(_raw(tracking), tmp_path / "trk.yaml", tmp_path, {"t": "target"})


def test_tracking_defaults_to_tensorboard_only_named_after_the_study(tmp_path):
    study = parse_study({k: v for k, v in _raw(None).items() if k != "tracking"}, tmp_path / "trk.yaml", tmp_path,
                        {"t": "target"})
    assert study.tracking.backends == ("tensorboard",) and study.tracking.project == "trk"
    assert study.tracking.mode == "offline"


@pytest.mark.parametrize(("tracking", "message"), [
    ({"backends": ["tensorboard", "neptune"]}, r"tracking.backends'.*unknown backend 'neptune'.*'mlflow'"),
    ({"backends": ["wandb", "wandb"]}, r"tracking.backends'.*duplicate"),
    ({"backends": 3}, r"tracking.backends'.*expected a non-empty list"),
    ({"mode": "cloud"}, r"tracking.mode'.*unknown mode 'cloud'.*'offline'"),
    ({"project": " "}, r"tracking.project'.*non-empty"),
    ({"projcet": "x"}, r"tracking.projcet'.*unknown key.*'project'"),
    ("wandb", r"key 'tracking'.*expected a mapping"),
])
def test_bad_tracking_keys_are_refused_at_load(tmp_path, tracking, message):
    with pytest.raises(ParameterError, match=message):
        _parse(tmp_path, tracking)


@pytest.mark.parametrize("backend", ["wandb", "mlflow"])
def test_a_backend_that_is_not_installed_names_the_pip_extra(tmp_path, monkeypatch, backend):
    monkeypatch.setitem(sys.modules, backend, None)  # as if absent, whatever this machine has
    with pytest.raises(ParameterError, match=rf"tracking.backends'.*'{backend}' is not installed: "
                                             rf"pip install 'xw\[{backend}\]'"):
        _parse(tmp_path, {"backends": ["tensorboard", backend]})
    writer = CurveWriter(tmp_path / "run", tracking=types.SimpleNamespace(backends=(backend,)))
    with pytest.raises(XWError, match=rf"pip install 'xw\[{backend}\]'"):  # a study built past the check
        writer(StepLog(step=1, loss=1.0, grad_norm=0.1, learning_rate=1e-3, tokens=10, seconds=0.1))


def test_wandb_and_mlflow_get_every_step_and_finish_and_tensorboard_is_still_written(tmp_path, fakes):
    tracking = _parse(tmp_path, {"backends": ["tensorboard", "wandb", "mlflow"], "project": "proj"}).tracking
    writer = CurveWriter(tmp_path / "run", tag="target", tracking=tracking, run_name="s-none-t-seed0",
                         store=tmp_path / "store")
    losses = [2.0, 1.5, 1.0]
    for step, loss in enumerate(losses, start=1):
        writer(StepLog(step=step, loss=loss, grad_norm=0.5 * step, learning_rate=1e-3 / step, tokens=100,
                       seconds=0.5))
    summary = writer.close()

    wandb = fakes["wandb"]
    assert wandb[0] == ("init", {"project": "proj", "name": "s-none-t-seed0", "mode": "offline",
                                 "dir": str(tmp_path / "store")})
    logged = [c for c in wandb if c[0] == "log"]
    assert [c[1] for c in logged] == [1, 2, 3]
    assert [c[2]["target/loss"] for c in logged] == losses
    assert [c[2]["target/grad_norm"] for c in logged] == [0.5, 1.0, 1.5]
    assert [c[2]["target/learning_rate"] for c in logged] == [1e-3, 5e-4, 1e-3 / 3]
    assert logged[0][2]["target/tokens_per_second"] == 200.0
    assert wandb[-1] == ("finish", summary, None)

    mlflow = fakes["mlflow"]
    uri = mlflow[0][1]
    assert uri.startswith("file:") and uri.endswith("/store/mlruns"), "a local file store under the study's outputs"
    assert ("get_experiment", "proj") in mlflow and ("create_run", "7", "s-none-t-seed0") in mlflow
    steps = [(c[2], c[3], c[4]) for c in mlflow if c[0] == "log_metric" and c[4] is not None]
    assert [(v, s) for k, v, s in steps if k == "target/loss"] == [(2.0, 1), (1.5, 2), (1.0, 3)]
    assert [s for k, _, s in steps if k == "target/grad_norm"] == [1, 2, 3]
    assert [s for k, _, s in steps if k == "target/learning_rate"] == [1, 2, 3]
    assert ("set_tag", "train_diverged", "False") in mlflow and mlflow[-1] == ("terminated", "run-1", "FINISHED")

    curve = read_curve(tmp_path / "run")  # TensorBoard as before
    assert curve[curve.metric == "loss"]["value"].round(4).tolist() == losses
    assert read_summary(tmp_path / "run")["train_final_loss"] == 1.0


def test_a_training_that_raises_ends_its_runs_as_failed(tmp_path, fakes):
    writer = CurveWriter(tmp_path / "run", tracking=types.SimpleNamespace(backends=("wandb", "mlflow")),
                         store=tmp_path)
    with pytest.raises(RuntimeError, match="loss is nan"), writer:
        writer(StepLog(step=1, loss=1.0, grad_norm=0.1, learning_rate=1e-3, tokens=10, seconds=0.1))
        raise RuntimeError("loss is nan")
    assert fakes["wandb"][-1] == ("finish", {}, 1) and fakes["mlflow"][-1] == ("terminated", "run-1", "FAILED")
    assert not (tmp_path / "run" / "curve.json").exists(), "no summary for a training that did not finish"
    assert read_curve(tmp_path / "run")["step"].tolist() == [1, 1, 1, 1], "the steps so far stay readable"
    assert writer.close()["train_initial_loss"] == 1.0 and len(fakes["wandb"]) == 3, "nothing finished twice"


def test_mlflow_uses_the_users_tracking_uri_when_set(tmp_path, fakes, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    writer = CurveWriter(tmp_path / "run", tracking=types.SimpleNamespace(backends=("mlflow",), project="p"),
                         store=tmp_path)
    writer(StepLog(step=1, loss=1.0, grad_norm=0.1, learning_rate=1e-3, tokens=10, seconds=0.1))
    writer.close()
    assert fakes["mlflow"][0] == ("client", "http://mlflow.internal:5000")


def test_a_target_cell_passes_the_studys_tracking_to_its_writer(tmp_path, tiny_checkpoint, fakes):
    from xw.cells import Cell, run_cell
    from xw.layout import target_curves
    from xw.study import load_study

    raw = fake_tasks.study_dict({"s": str(tiny_checkpoint)})
    raw["tracking"] = {"backends": ["tensorboard", "wandb", "mlflow"]}
    path = tmp_path / "fake.yaml"
    path.write_text(yaml.safe_dump(raw))
    study = load_study(path, output_root=tmp_path / "outputs")
    run_cell(study, Cell("target", "s", "none", 0, "fake-colour-x"), progress=False)
    init = fakes["wandb"][0][1]
    assert init["project"] == "fake" and init["mode"] == "offline" and init["name"] == "s-none-fake-colour-x-seed0"
    assert init["dir"] == str(study.output_dir)
    assert fakes["mlflow"][0][1] == (study.output_dir / "mlruns").as_uri()
    steps = [c[1] for c in fakes["wandb"] if c[0] == "log"]
    curve = read_curve(target_curves(study, "s", "none", "fake-colour-x", 0))
    assert steps == curve[curve.metric == "loss"]["step"].tolist() and len(steps) >= 2
    assert fakes["wandb"][-1][0] == "finish" and fakes["mlflow"][-1][0] == "terminated"
