"""The tidy results table: one row per (model, scale, intermediate, target, language, seed, metric).

Each cell writes its own file atomically (temp file + rename), so a killed run never
leaves a partial or duplicated row; ``collect`` merges them into results.csv.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd

from xw.atomic import atomic_write_text, atomic_write_with
from xw.layout import cells_dir, results_path
from xw.params import Study

COLUMNS = [
    "study", "model", "scale", "params", "intermediate_task", "target_task", "task_family", "language",
    "split", "seed", "metric", "value", "primary", "git_commit", "finished_at", "device", "wall_seconds",
    "hyperparameters",
    # provenance (xw.provenance) and the training curve (xw.tracking): every number traceable, a diverged run visible
    "xw_version", "git_describe", "library_versions", "model_revision", "data_revision",
    "train_initial_loss", "train_final_loss", "train_diverged",
]


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parent, timeout=10)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    atomic_write_text(path, frame.to_csv(index=False))


def metric_rows(base: dict, language: str, split: str, result: dict[str, float], primary: str) -> list[dict]:
    return [{**base, "language": language, "split": split, "metric": name, "value": float(value),
             "primary": name == primary} for name, value in result.items()]


PREDICTION_KEYS = ["scale", "intermediate_task", "target_task", "seed", "language", "split"]


def prediction_rows(base: dict, language: str, split: str, predictions: list[dict]) -> list[dict]:
    """A kind's per-example rows (xw.kinds.base.Scores.predictions) under the cell's keys, language and split."""
    keys = {k: base[k] for k in PREDICTION_KEYS[:4]}
    return [{**keys, "language": language, "split": split, **row} for row in predictions]


def write_predictions(rows: list[dict], path: Path) -> None:
    """A cell's per-example predictions as one Parquet file, written atomically (xw.layout.predictions_path)."""
    frame = pd.DataFrame(rows)
    leading = [c for c in PREDICTION_KEYS + ["example_index", "example_id", "gold", "prediction", "correct"]
               if c in frame.columns]
    frame = frame[leading + [c for c in frame.columns if c not in leading]]
    for column in ("gold_index", "predicted_index"):  # ints, missing where a row has none (BUCC beside Tatoeba)
        if column in frame.columns:
            frame[column] = frame[column].astype("Int64")
    atomic_write_with(path, lambda tmp: frame.to_parquet(tmp, index=False, engine="pyarrow"))


def hyperparameters_json(**configs: object) -> str:
    import dataclasses

    return json.dumps({k: dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v
                       for k, v in configs.items()}, sort_keys=True, default=str)


def collect(study: Study) -> Path:
    """Merge every finished cell's rows into results.csv (rewritten atomically)."""
    frames = []
    for path in sorted(cells_dir(study).glob("*.csv")):
        try:
            frames.append(pd.read_csv(path))
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            continue  # unreadable file: the cell counts as not done and re-runs
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)
    table = table.drop_duplicates(subset=["scale", "intermediate_task", "target_task", "language", "seed", "metric"],
                                  keep="last")
    out = results_path(study)
    table = table.reindex(columns=COLUMNS)  # rows of cells run before a column existed get it empty
    atomic_write_csv(table, out)
    write_parquet(table, out.with_suffix(".parquet"))
    return out


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """The same table as Parquet (typed, fast to load for analysis), written to a temp file then renamed."""
    import os

    tmp = path.with_name(f".{path.name}.tmp")
    frame.to_parquet(tmp, index=False, engine="pyarrow")
    os.replace(tmp, path)


def load_results(study: Study) -> pd.DataFrame:
    path = results_path(study)
    if not path.exists():
        collect(study)
    return pd.read_csv(path)
