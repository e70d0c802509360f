"""Training curves: TensorBoard event files per training, and a flag when the loss did not go down.

A gain averaged over seeds hides a diverged training; writing every step's loss, learning rate,
grad norm and tokens/s (and flagging final >= initial loss in the rows) makes it visible. Hooks
duck-type ``xw.train.StepLog`` so the pretraining loop and xw.train share one writer.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

SUMMARY = "curve.json"
LOSSES = "losses.jsonl"  # every logged step's loss: a resumed training's summary covers the whole curve
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


class CurveWriter:
    """An ``on_step`` hook: writes one TensorBoard scalar per metric per step (rank 0 only) and a summary."""

    def __init__(self, log_dir: Path, tag: str = "train", resume_from: int = 0) -> None:
        """``resume_from``: the step a resumed training continues after (0: a fresh one, whose folder is
        emptied first, so a curve never mixes two runs); the steps logged up to it are kept."""
        self.log_dir = Path(log_dir)
        self.tag = tag
        self.losses: list[float] = []
        self._writer: Any = None
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
        self.losses = [float(e["loss"]) for e in kept]

    def __call__(self, log: Any) -> None:
        self.losses.append(float(log.loss))
        if not self._active:
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with (self.log_dir / LOSSES).open("a") as file:
            file.write(json.dumps({"step": int(log.step), "loss": float(log.loss)}) + "\n")
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

            self.log_dir.mkdir(parents=True, exist_ok=True)
            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        step = int(log.step)
        self._writer.add_scalar(f"{self.tag}/loss", float(log.loss), step)
        self._writer.add_scalar(f"{self.tag}/learning_rate", float(log.learning_rate), step)
        self._writer.add_scalar(f"{self.tag}/grad_norm", float(log.grad_norm), step)
        if log.seconds > 0:
            self._writer.add_scalar(f"{self.tag}/tokens_per_second", float(log.tokens) / float(log.seconds), step)

    def summary(self) -> dict[str, object]:
        """The curve columns of a result row: first and final loss, and whether the training diverged."""
        window = max(1, len(self.losses) // 10)
        final = sum(self.losses[-window:]) / window if self.losses else float("nan")
        return {"train_initial_loss": self.losses[0] if self.losses else float("nan"),
                "train_final_loss": final, "train_diverged": diverged(self.losses)}

    def close(self) -> dict[str, object]:
        """Flush the event file and write curve.json beside it; returns the summary."""
        result = self.summary()
        if self._writer is not None:
            self._writer.close()
            (self.log_dir / SUMMARY).write_text(json.dumps(result, default=str))
        return result


def read_summary(log_dir: Path) -> dict[str, object]:
    """The curve columns a finished training left (empty values when it logged nothing here)."""
    path = Path(log_dir) / SUMMARY
    if not path.is_file():
        return {name: None for name in CURVE_COLUMNS}
    return json.loads(path.read_text())
