"""Training curves: TensorBoard event files per training (and, on request, W&B / MLflow runs), and a flag when
the loss did not go down.

A gain averaged over seeds hides a diverged training; writing every step's loss, learning rate,
grad norm and tokens/s (and flagging final >= initial loss in the rows) makes it visible. Hooks
duck-type ``xw.train.StepLog`` so the pretraining loop and xw.train share one writer. TensorBoard is
always written (the target notebook and the report read it back with ``read_curve``); the study file's
``tracking.backends`` adds Weights & Biases and/or MLflow beside it, each behind the ``Backend`` interface.
Both are optional extras (``pip install 'xw[wandb]'``), imported only when named, and offline by default.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from xw.errors import XWError

if TYPE_CHECKING:
    import pandas as pd

SUMMARY = "curve.json"
LOSSES = "losses.jsonl"  # every logged step's loss: a resumed training's summary covers the whole curve
# the loss thinned to at most SKETCH_POINTS steps, for drawing many cells at once (xw.curve_panel): reading
# TensorBoard events back takes ~3 s per 10k steps, the sketch milliseconds
SKETCH, SKETCH_POINTS = "loss-sketch.json", 200
CURVE_COLUMNS = ["train_initial_loss", "train_final_loss", "train_diverged"]


def _is_rank_zero() -> bool:
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            return dist.get_rank() == 0
    except ImportError:
        pass
    return int(os.environ.get("RANK", "0")) == 0


def diverged(losses: list[float]) -> bool:
    """True when the loss did not go down: the mean of the last tenth (>= 1 step) is >= the first, or not finite."""
    if not losses:
        return False
    window = max(1, len(losses) // 10)
    final = sum(losses[-window:]) / window
    return not math.isfinite(final) or final >= losses[0]


BACKENDS = ("tensorboard", "wandb", "mlflow")  # what tracking.backends may name
OPTIONAL = {"wandb": "wandb", "mlflow": "mlflow"}  # backend -> the module it imports (and the xw extra)
WANDB_MODES = ("offline", "online", "disabled")  # wandb.init(mode=...); offline needs no account or network
MLFLOW_FOLDER = "mlruns"  # the local file store under the tracking store, unless MLFLOW_TRACKING_URI is set


def _importable(module: str) -> bool:
    import importlib.util
    import sys

    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing_backends(names: Sequence[str]) -> list[str]:
    """The optional backends among ``names`` whose package is not installed (checked when a study is loaded)."""
    return [name for name in names if name in OPTIONAL and not _importable(OPTIONAL[name])]


def _optional(name: str) -> Any:
    """The backend's module, imported by name: it is an extra, not a dependency of xw."""
    try:
        return importlib.import_module(OPTIONAL[name])
    except ImportError as err:
        raise XWError(f"tracking backend {name!r} needs the {OPTIONAL[name]} package: pip install 'xw[{name}]' "
                      f"(or remove {name} from tracking.backends in the study file)") from err


class Backend(Protocol):
    """Where one training's curve goes: every step's metrics, then the summary once at the end."""

    def log(self, step: int, metrics: dict[str, float]) -> None: ...

    def finish(self, summary: dict[str, object]) -> None: ...

    def fail(self) -> None:
        """The training raised: end the run as failed (a warm kernel's next cell must not log into it)."""


class TensorBoardBackend:
    """Event files under ``log_dir`` (torch.utils.tensorboard); read back by ``read_curve``."""

    def __init__(self, log_dir: Path) -> None:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._writer = SummaryWriter(log_dir=str(self.log_dir))

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self._writer.add_scalar(name, value, step)

    def finish(self, summary: dict[str, object]) -> None:
        self._writer.close()
        (self.log_dir / SUMMARY).write_text(json.dumps(summary, default=str))

    def fail(self) -> None:
        self._writer.close()  # the steps so far stay readable; no curve.json: the training did not finish


class WandbBackend:
    """One W&B run per training; ``mode="offline"`` (the default) writes under ``<store>/wandb`` only
    (``wandb sync`` uploads it later)."""

    def __init__(self, run_name: str, project: str, mode: str, store: Path | None) -> None:
        wandb = _optional("wandb")
        if store is not None:
            Path(store).mkdir(parents=True, exist_ok=True)
        self._run = wandb.init(project=project, name=run_name, mode=mode,
                               dir=str(store) if store is not None else None)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._run.log(metrics, step=step)

    def finish(self, summary: dict[str, object]) -> None:
        self._run.summary.update(summary)
        self._run.finish()

    def fail(self) -> None:
        self._run.finish(exit_code=1)


class MlflowBackend:
    """One MLflow run per training, in experiment ``project``: at MLFLOW_TRACKING_URI when the user set it,
    else in a local ``file:`` store under ``<store>/mlruns`` (no server, no network). The client API is used
    (no global active run), so many trainings in one warm kernel do not interfere."""

    def __init__(self, run_name: str, project: str, store: Path | None) -> None:
        mlflow = _optional("mlflow")
        uri = os.environ.get("MLFLOW_TRACKING_URI") or (Path(store or ".").resolve() / MLFLOW_FOLDER).as_uri()
        self.tracking_uri = uri
        self._client = mlflow.MlflowClient(tracking_uri=uri)
        experiment = self._client.get_experiment_by_name(project)
        experiment_id = experiment.experiment_id if experiment is not None else self._client.create_experiment(project)
        self._run_id = self._client.create_run(experiment_id, run_name=run_name).info.run_id

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for name, value in metrics.items():
            self._client.log_metric(self._run_id, name, value, step=step)

    def finish(self, summary: dict[str, object]) -> None:
        for name, value in summary.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self._client.set_tag(self._run_id, name, str(value))
            elif math.isfinite(value):
                self._client.log_metric(self._run_id, name, float(value))
        self._client.set_terminated(self._run_id, status="FINISHED")

    def fail(self) -> None:
        self._client.set_terminated(self._run_id, status="FAILED")


class CurveWriter:
    """An ``on_step`` hook: logs each step's metrics to every backend (rank 0 only) and keeps the summary.

    ``tracking`` (duck-types ``xw.params.TrackingConfig``: ``backends``, ``project``, ``mode``) adds W&B /
    MLflow to TensorBoard; ``run_name`` names their run; ``store`` is the folder their local files go under.
    """

    def __init__(self, log_dir: Path, tag: str = "train", tracking: Any = None, run_name: str | None = None,
                 store: Path | None = None, resume_from: int = 0) -> None:
        """``resume_from``: the step a resumed training continues after (0: a fresh one, whose folder is
        emptied first, so a curve never mixes two runs); the steps logged up to it are kept."""
        self.log_dir = Path(log_dir)
        self.tag = tag
        self.losses: list[float] = []
        self.steps: list[int] = []
        self.backends: list[Backend] = []
        self._tracking = tracking
        self._run_name = run_name or self.log_dir.name
        self._store = store
        self._active = _is_rank_zero()
        if self._active:
            self._resume(resume_from)

    def _resume(self, upto: int) -> None:
        file = self.log_dir / LOSSES
        if upto == 0 or not file.is_file():
            shutil.rmtree(self.log_dir, ignore_errors=True)
            return
        kept = [e for e in (json.loads(line) for line in file.read_text().splitlines() if line.strip())
                if e["step"] <= upto]
        file.write_text("".join(json.dumps(e) + "\n" for e in kept))
        self.steps = [int(e["step"]) for e in kept]
        self.losses = [float(e["loss"]) for e in kept]

    def _start(self) -> None:
        """Backends start at the first step, so a cell that fails before training leaves no empty run."""
        self.backends = [TensorBoardBackend(self.log_dir)]
        names = tuple(getattr(self._tracking, "backends", ()) or ())
        project = getattr(self._tracking, "project", None) or "xw"
        if "wandb" in names:
            self.backends.append(WandbBackend(self._run_name, project, getattr(self._tracking, "mode", "offline"),
                                              self._store))
        if "mlflow" in names:
            self.backends.append(MlflowBackend(self._run_name, project, self._store))

    def __call__(self, log: Any) -> None:
        self.losses.append(float(log.loss))
        self.steps.append(int(log.step))
        if not self._active:
            return
        if not self.backends:
            self._start()
        with (self.log_dir / LOSSES).open("a") as file:
            file.write(json.dumps({"step": int(log.step), "loss": float(log.loss)}) + "\n")
        metrics = {f"{self.tag}/loss": float(log.loss), f"{self.tag}/learning_rate": float(log.learning_rate),
                   f"{self.tag}/grad_norm": float(log.grad_norm)}
        if log.seconds > 0:
            metrics[f"{self.tag}/tokens_per_second"] = float(log.tokens) / float(log.seconds)
        for backend in self.backends:
            backend.log(int(log.step), metrics)

    def summary(self) -> dict[str, object]:
        """The curve columns of a result row: first and final loss, and whether the training diverged."""
        window = max(1, len(self.losses) // 10)
        final = sum(self.losses[-window:]) / window if self.losses else float("nan")
        return {"train_initial_loss": self.losses[0] if self.losses else float("nan"),
                "train_final_loss": final, "train_diverged": diverged(self.losses)}

    def __enter__(self) -> CurveWriter:
        return self

    def __exit__(self, kind: type | None, error: BaseException | None, traceback: Any) -> None:
        """Leaving ``with curves:`` by an exception ends every backend's run as failed; a normal exit leaves
        the runs open for ``close``."""
        if kind is not None:
            for backend in self.backends:
                backend.fail()
            self.backends = []

    def close(self) -> dict[str, object]:
        """Finish every backend's run (TensorBoard: flush, curve.json and the loss sketch beside the events);
        returns the summary."""
        result = self.summary()
        started = bool(self.backends)
        for backend in self.backends:
            backend.finish(result)
        self.backends = []
        if started:
            steps, losses = thin(self.steps, self.losses)
            (self.log_dir / SKETCH).write_text(json.dumps({"step": steps, "loss": losses}))
        return result


def thin(steps: Sequence[int], values: Sequence[float], points: int = SKETCH_POINTS) -> tuple[list[int], list[float]]:
    """At most about ``points`` evenly spaced entries, the first and the last always among them."""
    if len(steps) <= points:
        return list(steps), list(values)
    every = math.ceil(len(steps) / points)
    keep = sorted(set(range(0, len(steps), every)) | {len(steps) - 1})
    return [steps[i] for i in keep], [values[i] for i in keep]


def read_loss_sketch(log_dir: Path) -> tuple[list[int], list[float]]:
    """(steps, losses) of a training, thinned: the sketch a finished training left, else (a failed training)
    read back from its TensorBoard events. Empty lists where nothing was logged."""
    path = Path(log_dir) / SKETCH
    if path.is_file():
        sketch = json.loads(path.read_text())
        return [int(s) for s in sketch["step"]], [float(v) for v in sketch["loss"]]
    curve = read_curve(log_dir)
    loss = curve[curve["metric"] == "loss"]
    return thin(loss["step"].astype(int).tolist(), loss["value"].astype(float).tolist())


def read_summary(log_dir: Path) -> dict[str, object]:
    """The curve columns a finished training left (empty values when it logged nothing here)."""
    path = Path(log_dir) / SUMMARY
    if not path.is_file():
        return {name: None for name in CURVE_COLUMNS}
    return json.loads(path.read_text())


def read_curve(log_dir: Path) -> pd.DataFrame:
    """One training's TensorBoard curve as a tidy table: ``step``, ``metric`` (``loss``, ``learning_rate``,
    ``grad_norm``, ``tokens_per_second``), ``value``, ``phase`` (the tag: pretrain / intermediate / target).
    Empty (same columns) where nothing was logged, e.g. a cell that failed before its first step."""
    import pandas as pd
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    rows: list[tuple[int, str, float, str]] = []
    if Path(log_dir).is_dir():
        events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})  # 0: every step, not a sample
        events.Reload()
        for tag in events.Tags().get("scalars", []):
            phase, _, metric = tag.rpartition("/")
            rows += [(e.step, metric, e.value, phase) for e in events.Scalars(tag)]
    frame = pd.DataFrame(rows, columns=["step", "metric", "value", "phase"])
    return frame.sort_values(["metric", "step"], kind="stable").reset_index(drop=True)
