"""Gains from intermediate-task training, paired by seed, and their parameter equivalent.

The tidy results table has one row per measurement. A gain is only meaningful against the
baseline ("none") run of the *same* scale, target, language, split and seed, so pairs are
built on that key and anything without a partner is reported, never silently averaged away.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

BASELINE = "none"

#: gain measure name -> (gains column, unit used in sentences and axis titles)
MEASURES: dict[str, tuple[str, str]] = {
    "absolute": ("gain", "points"),
    "error_reduction": ("error_reduction", "% of the baseline's error"),
    "relative": ("relative_gain", "% of the baseline score"),
}

MEASURE_LABELS: dict[str, str] = {
    "absolute": "absolute gain",
    "error_reduction": "error reduction",
    "relative": "gain relative to the baseline",
}

REQUIRED = ("scale", "params", "intermediate_task", "target_task", "task_family", "language", "seed",
            "metric", "value", "primary")
PAIR_KEY = ["scale", "params", "target_task", "task_family", "language", "split", "seed"]
ROW_KEY = ["scale", "intermediate_task", "target_task", "language", "split", "seed"]


def format_params(p: float) -> str:
    """270M, 3.5B: parameter counts as people write them."""
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if p >= div:
            return f"{p / div:.3g}{unit}"
    return f"{p:.0f}"


def measure_column(measure: str) -> str:
    """The gains column behind a measure name, with a clear error for a typo."""
    if measure not in MEASURES:
        raise ValueError(f"unknown gain measure {measure!r}; choose one of {sorted(MEASURES)}")
    return MEASURES[measure][0]


def _as_bool(series: pd.Series) -> pd.Series:
    """CSV round-trips turn booleans into strings; accept the usual spellings."""
    if series.dtype == bool:
        return series
    mapping = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False, "": False,
               "nan": False}
    return series.map(lambda v: mapping.get(str(v).strip().lower(), bool(v)) if not isinstance(v, bool) else v)


def load_results(path: str | Path) -> pd.DataFrame:
    """Read a results.csv and coerce the columns the analysis relies on."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"results table {path} does not exist; run the grid (or the simulator) first")
    return clean_results(pd.read_csv(path))


def clean_results(results: pd.DataFrame) -> pd.DataFrame:
    """Check required columns and fix dtypes so pairing keys compare equal."""
    missing = [c for c in REQUIRED if c not in results.columns]
    if missing:
        raise ValueError(f"results table lacks columns {missing}; it has {list(results.columns)}")
    out = results.copy()
    if "split" not in out.columns:
        out["split"] = "test"
    out["split"] = out["split"].fillna("").astype(str)
    for col in ("scale", "intermediate_task", "target_task", "task_family", "language", "metric"):
        out[col] = out[col].astype(str)
    out["params"] = pd.to_numeric(out["params"], errors="coerce")
    out["seed"] = pd.to_numeric(out["seed"], errors="coerce").astype("Int64")
    out["value"] = pd.to_numeric(out["value"], errors="coerce")
    out["primary"] = _as_bool(out["primary"]).astype(bool)
    per_scale = out.groupby("scale")["params"].nunique()
    if (per_scale > 1).any():
        raise ValueError(f"scales with more than one parameter count: {list(per_scale[per_scale > 1].index)}")
    return out


def primary_scores(results: pd.DataFrame, exclude_languages: Iterable[str] = ("en",),
                   split: str | None = None) -> tuple[pd.DataFrame, int]:
    """Headline-metric rows, one per run and language; returns them and how many duplicates were dropped.

    Duplicates (a re-run of the same cell) keep the most recent row, so a repaired run wins.
    """
    res = clean_results(results)
    res = res[res["primary"]]
    if split is not None:
        res = res[res["split"] == split]
    res = res[~res["language"].isin(set(exclude_languages))]
    if res.empty:
        raise ValueError("no primary-metric rows left after excluding languages/splits")
    metrics = res.groupby("target_task")["metric"].nunique()
    if (metrics > 1).any():
        raise ValueError(f"targets with more than one primary metric: {list(metrics[metrics > 1].index)}")
    splits = res.groupby("target_task")["split"].nunique()
    if (splits > 1).any():
        raise ValueError(f"targets evaluated on several splits {list(splits[splits > 1].index)}; "
                         "pass split='dev' or split='test' to choose one")
    if "finished_at" in res.columns:
        res = res.sort_values("finished_at", kind="stable")
    n_before = len(res)
    res = res.drop_duplicates(ROW_KEY, keep="last")
    return res, n_before - len(res)


def _expected_pairs(scores: pd.DataFrame) -> pd.DataFrame:
    """Every pair the grid implies: for each (scale, target), the intermediates, languages and seeds seen
    for that target anywhere. Anything missing from the table is a failed or unfinished run."""
    frames = []
    for target, grp in scores.groupby("target_task", sort=True):
        inters = sorted(set(grp["intermediate_task"]) - {BASELINE})
        if not inters:
            continue
        scales = grp[["scale", "params"]].drop_duplicates()
        langs = sorted(grp["language"].unique())
        seeds = sorted(grp["seed"].dropna().unique())
        idx = pd.MultiIndex.from_product([scales["scale"], inters, langs, seeds],
                                         names=["scale", "intermediate_task", "language", "seed"])
        f = idx.to_frame(index=False)
        f["target_task"] = target
        f["task_family"] = grp["task_family"].iloc[0]
        f["split"] = grp["split"].iloc[0]
        f = f.merge(scales, on="scale")
        frames.append(f)
    if not frames:
        return pd.DataFrame(columns=[*PAIR_KEY, "intermediate_task"])
    out = pd.concat(frames, ignore_index=True)
    out["seed"] = out["seed"].astype("Int64")
    return out


def compute_gains(results: pd.DataFrame, exclude_languages: Iterable[str] = ("en",),
                  split: str | None = None) -> pd.DataFrame:
    """Tidy gains, one row per (scale, intermediate, target, language, seed), complete pairs only.

    ``gain`` = score(intermediate) - score(baseline, same seed), in points;
    ``error_reduction`` = 100 * gain / (100 - baseline), the share of the remaining error removed;
    ``relative_gain`` = 100 * gain / baseline. ``attrs['dropped']`` lists incomplete pairs and why.
    """
    scores, n_dup = primary_scores(results, exclude_languages, split)
    keep = [*PAIR_KEY, "intermediate_task", "metric", "value"] + [c for c in ("model", "study")
                                                                  if c in scores.columns]
    scores = scores[keep]
    base = scores[scores["intermediate_task"] == BASELINE].rename(columns={"value": "baseline"})
    base = base[[*PAIR_KEY, "baseline"]]
    inter = scores[scores["intermediate_task"] != BASELINE].rename(columns={"value": "score"})
    expected = _expected_pairs(scores)
    merged = expected.merge(inter, on=[*PAIR_KEY, "intermediate_task"], how="left")
    merged = merged.merge(base, on=PAIR_KEY, how="left")
    has_base = merged["baseline"].notna()
    has_int = merged["score"].notna()
    complete = has_base & has_int
    dropped = merged.loc[~complete, [*PAIR_KEY, "intermediate_task"]].copy()
    dropped["reason"] = np.select(
        [~has_base[~complete] & ~has_int[~complete], ~has_base[~complete]],
        ["no baseline and no intermediate score", "no baseline score"], "no intermediate score")
    gains = merged.loc[complete].copy()
    gains["gain"] = gains["score"] - gains["baseline"]
    with np.errstate(divide="ignore", invalid="ignore"):
        err = 100.0 - gains["baseline"]
        gains["error_reduction"] = np.where(err > 0, 100.0 * gains["gain"] / err, np.nan)
        gains["relative_gain"] = np.where(gains["baseline"] > 0, 100.0 * gains["gain"] / gains["baseline"],
                                          np.nan)
    gains["log2_params"] = np.log2(gains["params"].astype(float))
    gains["seed"] = gains["seed"].astype(int)
    order = ["scale", "params", "log2_params", "intermediate_task", "target_task", "task_family", "language",
             "split", "seed", "metric", "baseline", "score", "gain", "error_reduction", "relative_gain"]
    gains = gains[order + [c for c in gains.columns if c not in order]]
    gains = gains.sort_values(["params", "intermediate_task", "target_task", "language", "seed"],
                              ignore_index=True)
    gains.attrs["dropped"] = dropped.reset_index(drop=True)
    gains.attrs["n_dropped"] = int(len(dropped))
    gains.attrs["n_duplicates"] = int(n_dup)
    gains.attrs["excluded_languages"] = sorted(set(exclude_languages))
    if len(dropped):
        logger.warning("%d of %d intermediate/baseline pairs are incomplete and were dropped",
                       len(dropped), len(merged))
    return gains


def dropped_pairs(gains: pd.DataFrame) -> pd.DataFrame:
    """The incomplete pairs ``compute_gains`` left out, with the reason (empty when none)."""
    return gains.attrs.get("dropped", pd.DataFrame(columns=[*PAIR_KEY, "intermediate_task", "reason"]))


def baseline_scores(results: pd.DataFrame, exclude_languages: Iterable[str] = ("en",),
                    split: str | None = None) -> pd.DataFrame:
    """Primary-metric scores of the baseline runs, the scaling curve intermediate training is judged by."""
    scores, _ = primary_scores(results, exclude_languages, split)
    base = scores[scores["intermediate_task"] == BASELINE].dropna(subset=["value"]).copy()
    base["log2_params"] = np.log2(base["params"].astype(float))
    return base


def _fit_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares intercept and slope; NaN when there are fewer than two distinct x."""
    if len(np.unique(x)) < 2:
        return float("nan"), float("nan")
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(slope)


def _inverse_interp(xs: np.ndarray, ys: np.ndarray, target: float, slope: float) -> float:
    """log2 params at which the piecewise-linear baseline curve reaches ``target``.

    Inside the observed range the curve is inverted segment by segment (it must be increasing);
    outside it is extended with the fitted line's slope, so a gain larger than the ladder spans
    still gets a (clearly extrapolated) answer.
    """
    if np.any(np.diff(ys) <= 0) or not slope > 0:
        return float("nan")
    if target <= ys[0]:
        return float(xs[0] + (target - ys[0]) / slope)
    if target >= ys[-1]:
        return float(xs[-1] + (target - ys[-1]) / slope)
    return float(np.interp(target, ys, xs))


def compute_equivalent_gain(gains: pd.DataFrame, results: pd.DataFrame, method: str = "line",
                            exclude_languages: Iterable[str] = ("en",), split: str | None = None) -> pd.DataFrame:
    """How many times more parameters the *baseline* needs to match the intermediate-task gain.

    Per target, the baseline's mean score (over languages and seeds) is a curve in log2(params).
    ``method="line"``: a least-squares line; the gain buys ``gain / slope`` doublings, i.e. a factor
    ``2 ** (gain / slope)``. ``method="interpolate"``: the piecewise-linear curve is inverted at
    baseline(scale) + gain (extended with the line's slope beyond the ladder). A flat or falling
    baseline curve gives NaN: parameters do not buy anything there.
    """
    if method not in ("line", "interpolate"):
        raise ValueError("method must be 'line' or 'interpolate'")
    base = baseline_scores(results, exclude_languages, split)
    # restrict the baseline curve to the languages that have gains, so both sides average the same set
    langs = gains.groupby("target_task")["language"].unique().to_dict()
    rows = []
    mean_gain = (gains.groupby(["scale", "params", "intermediate_task", "target_task"], as_index=False)["gain"]
                 .mean())
    for target, grp in mean_gain.groupby("target_task"):
        b = base[(base["target_task"] == target) & base["language"].isin(langs.get(target, []))]
        curve = b.groupby("params")["value"].mean().sort_index()
        xs = np.log2(curve.index.to_numpy(dtype=float))
        ys = curve.to_numpy(dtype=float)
        _, slope = _fit_line(xs, ys)
        for r in grp.itertuples(index=False):
            x0 = np.log2(float(r.params))
            if method == "line":
                doublings = r.gain / slope if slope > 0 else float("nan")
            else:
                y0 = float(np.interp(x0, xs, ys)) if len(xs) else float("nan")
                doublings = _inverse_interp(xs, ys, y0 + r.gain, slope) - x0
            note = "" if slope > 0 else "baseline does not improve with scale"
            if np.isfinite(doublings) and len(xs) and (x0 + doublings > xs.max() or x0 + doublings < xs.min()):
                note = "extrapolated beyond the ladder"
            rows.append({"scale": r.scale, "params": r.params, "intermediate_task": r.intermediate_task,
                         "target_task": target, "gain": r.gain, "baseline_slope": slope,
                         "doublings": doublings, "param_factor": 2.0 ** doublings,
                         "equivalent_params": float(r.params) * 2.0 ** doublings, "note": note})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    return out.sort_values(["params", "intermediate_task", "target_task"], ignore_index=True)


def equivalent_gain_summary(equivalent: pd.DataFrame) -> pd.DataFrame:
    """Per scale and intermediate task: the median parameter factor over targets (robust to one
    target whose baseline barely moves with scale)."""
    if equivalent.empty:
        return equivalent
    return (equivalent.groupby(["scale", "params", "intermediate_task"], as_index=False)
            .agg(median_param_factor=("param_factor", "median"), median_doublings=("doublings", "median"),
                 targets=("target_task", "nunique"))
            .sort_values(["params", "intermediate_task"], ignore_index=True))
