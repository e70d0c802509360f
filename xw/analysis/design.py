"""The data side of the slope models: gains made ready for a fit, and the pieces every fit shares.

``prepare`` turns paired gains into model rows (outcome ``y``, centred ``x`` = log2(params), the
baseline run each gain belongs to); the formula, degrees of freedom, random structure, t intervals,
per-family slope contrasts and run means below are what xw.analysis.models (the fits),
xw.analysis.covariates and xw.analysis.robustness build on. Split from the fits so each module stays
about one thing; the numbers are the same either way.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable

import numpy as np
import pandas as pd
import patsy
from scipy import stats
from statsmodels.regression.mixed_linear_model import VCSpec

from xw.analysis.gains import measure_column

SLOPE = "x"


def single_threaded(func: Callable) -> Callable:
    """Run with one BLAS thread: the matrices here are small, and a multi-threaded OpenBLAS on a
    shared 2-core machine made one 1000x150 least-squares solve 75x slower (2 s instead of 30 ms)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            from threadpoolctl import threadpool_limits
            ctx = threadpool_limits(1, user_api="blas")
        except ImportError:  # optional: without it the numbers are the same, only slower under load
            ctx = contextlib.nullcontext()
        with ctx:
            return func(*args, **kwargs)

    return wrapper


# ----------------------------------------------------------------------------- data preparation

def prepare(gains: pd.DataFrame, measure: str = "absolute") -> tuple[pd.DataFrame, list[str]]:
    """Rows with a finite outcome ``y``, centred ``x`` = log2(params), and the baseline-run id."""
    col = measure_column(measure)
    d = gains.copy()
    d["y"] = pd.to_numeric(d[col], errors="coerce")
    notes = []
    bad = ~np.isfinite(d["y"])
    if bad.any():
        notes.append(f"{int(bad.sum())} gains have no finite {measure} value (baseline at 0 or 100) and were left out")
        d = d[~bad]
    if d.empty:
        raise ValueError(f"no finite {measure} gains to model")
    centre = float(np.mean(np.unique(d["log2_params"])))
    d["x"] = d["log2_params"] - centre
    d["seed"] = d["seed"].astype(str)
    d["brun"] = d["scale"].astype(str) + "|" + d["target_task"] + "|" + d["seed"]
    d = d.reset_index(drop=True)
    return d, notes


def n_levels(d: pd.DataFrame, col: str) -> int:
    return int(d[col].nunique())


def fixed_formula(d: pd.DataFrame, random: str = "runs") -> str:
    """Fixed-effects formula, leaving out any factor with a single level."""
    terms = []
    if n_levels(d, "intermediate_task") > 1:
        terms.append("C(intermediate_task)")
    if random == "runs":
        terms += [f"C({c})" for c in ("target_task", "language", "seed") if n_levels(d, c) > 1]
    elif n_levels(d, "task_family") > 1:
        terms.append("C(task_family, Sum)")
    terms.append(SLOPE)
    if n_levels(d, "task_family") > 1:
        terms.append(f"{SLOPE}:C(task_family, Sum)")
    return "y ~ " + " + ".join(terms)


def group_df(d: pd.DataFrame) -> tuple[int, int]:
    """Between-run residual degrees of freedom: baseline runs minus the fixed effects that are constant
    within a run (target, seed, slope terms). Used as the t reference for the slope, a containment-
    style small-sample correction because MixedLM itself only offers Wald z intervals."""
    cells = d.drop_duplicates("brun")
    terms = [f"C({c})" for c in ("target_task", "seed") if n_levels(cells, c) > 1]
    terms.append(SLOPE)
    if n_levels(cells, "task_family") > 1:
        terms.append(f"{SLOPE}:C(task_family, Sum)")
    design = patsy.dmatrix(" + ".join(terms), cells, return_type="dataframe")
    return len(cells), len(cells) - int(np.linalg.matrix_rank(design.to_numpy()))


def _indicator(codes: np.ndarray) -> tuple[np.ndarray, list[str]]:
    levels = np.unique(codes)
    return (codes[:, None] == levels[None, :]).astype(float), [str(v) for v in levels]


def vc_spec(d: pd.DataFrame, groups: np.ndarray, components: dict[str, str]) -> VCSpec:
    """Variance components as per-group indicator matrices (much faster than ``vc_formula``, which
    runs patsy once per group)."""
    labels = np.unique(groups)
    rows = {g: np.flatnonzero(groups == g) for g in labels}
    names, colnames, mats = [], [], []
    for name, col in components.items():
        values = d[col].astype(str).to_numpy()
        comp_mats, comp_cols = [], []
        for g in labels:
            mat, cols = _indicator(values[rows[g]])
            comp_mats.append(mat)
            comp_cols.append(cols)
        names.append(name)
        colnames.append(comp_cols)
        mats.append(comp_mats)
    return VCSpec(names, colnames, mats)


def random_structure(d: pd.DataFrame, random: str) -> tuple[np.ndarray, bool, dict[str, str], list[str]]:
    """Groups, whether to add a random intercept, variance components, and notes on what was dropped."""
    notes = []
    if random == "runs":
        groups = pd.factorize(d["brun"], sort=True)[0]
        comps = {}
        n_int, n_lang = n_levels(d, "intermediate_task"), n_levels(d, "language")
        if n_int > 1:
            comps["intermediate run"] = "intermediate_task"
            if n_lang > 1:
                comps["baseline language cell"] = "language"
            else:
                notes.append("one language: the baseline language-cell component coincides with the baseline run and was dropped")
        else:
            notes.append("one intermediate task: run and language-cell components coincide with the baseline "
                         "run / residual and were dropped")
        return groups, True, comps, notes
    if random != "crossed":
        raise ValueError("random must be 'runs' or 'crossed'")
    groups = np.zeros(len(d), dtype=int)
    comps = {}
    for name, col in (("target", "target_task"), ("language", "language"), ("seed", "seed")):
        if n_levels(d, col) > 1:
            comps[name] = col
        else:
            notes.append(f"variance component {name!r} has one level and was dropped")
    return groups, False, comps, notes


def t_summary(est: float, se: float, df: float) -> tuple[float, float, float]:
    if not (np.isfinite(se) and se > 0):
        return float("nan"), float("nan"), float("nan")
    q = stats.t.ppf(0.975, df) if df >= 1 else stats.norm.ppf(0.975)
    p = 2 * (stats.t.sf(abs(est / se), df) if df >= 1 else stats.norm.sf(abs(est / se)))
    return est - q * se, est + q * se, float(p)


def family_slopes(params: pd.Series, cov: pd.DataFrame, d: pd.DataFrame, df: float) -> pd.DataFrame:
    """Per-family slopes as linear combinations of ``x`` and the sum-coded ``x:family`` terms."""
    families = sorted(d["task_family"].unique())
    names = list(params.index)
    rows = []
    for fam in families:
        vec = pd.Series(0.0, index=names)
        vec[SLOPE] = 1.0
        if len(families) > 1:
            inter = [n for n in names if n.startswith(f"{SLOPE}:C(task_family, Sum)")]
            own = f"{SLOPE}:C(task_family, Sum)[S.{fam}]"
            if own in names:
                vec[own] = 1.0
            else:  # the omitted level of sum coding is minus the sum of the others
                vec[inter] = -1.0
        est = float(vec @ params)
        se = float(np.sqrt(vec @ cov.loc[names, names] @ vec))
        lo, hi, p = t_summary(est, se, df)
        rows.append({"task_family": fam, "slope_per_doubling": est, "se": se, "ci_low": lo, "ci_high": hi,
                     "p_value": p, "targets": int(d.loc[d["task_family"] == fam, "target_task"].nunique())})
    return pd.DataFrame(rows)


def run_means(d: pd.DataFrame) -> pd.DataFrame:
    """Mean outcome per baseline run after removing intermediate and language effects estimated
    within runs, so a run missing an intermediate (a failed cell) is not biased by which one."""
    y = d["y"].to_numpy(dtype=float)
    within = []
    for col in ("intermediate_task", "language"):
        codes, levels = pd.factorize(d[col], sort=True)
        within += [(codes == j).astype(float) for j in range(1, len(levels))]
    if within:
        runs, n_runs = pd.factorize(d["brun"])[0], d["brun"].nunique()
        W = np.column_stack(within)
        X = np.column_stack([(runs[:, None] == np.arange(n_runs)[None, :]).astype(float), W])
        beta = np.linalg.lstsq(X, y, rcond=None)[0]
        effects = W @ beta[n_runs:]
        # centre the removed effects so run means keep the average level
        y = y - effects + effects.mean()
    out = d.assign(y=y)
    return out.groupby(["brun", "scale", "x", "target_task", "task_family", "seed"], as_index=False)["y"].mean()
