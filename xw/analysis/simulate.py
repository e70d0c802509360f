"""Simulated results tables with a known slope: does the analysis find what was put in?

Scores are drawn the way the grid produces them, so the analysis is tested on the noise it will
meet: each (scale, intermediate-or-baseline, target, seed) is one fine-tuned model (a run effect
shared by all its languages), each language score of that model has its own deviation, and the
baseline's run and per-language scores are shared by every intermediate's gain. On top: target,
language and seed random effects on the gain, task-family offsets (retrieval gains most, as in
Phang et al. 2020), and a baseline that improves with scale.

``validate`` runs the verdict's estimator over many simulated studies (coverage, sign recovery,
verdict accuracy); ``power_table`` finds the smallest slope a grid detects 80% of the time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize, stats

from xw.analysis.design import single_threaded
from xw.analysis.gains import BASELINE, compute_gains
from xw.analysis.models import SlopeFit, fit_cells, fit_ols_cluster, fit_slope

XTREME_TARGETS: tuple[tuple[str, str, str], ...] = (
    ("xnli", "classification", "accuracy"), ("pawsx", "classification", "accuracy"),
    ("udpos", "tagging", "f1"), ("panx", "tagging", "f1"),
    ("xquad", "qa", "f1"), ("mlqa", "qa", "f1"), ("tydiqa", "qa", "f1"),
    ("bucc2018", "retrieval", "f1"), ("tatoeba", "retrieval", "accuracy"),
)
FAMILY_METRIC = {"classification": "accuracy", "tagging": "f1", "qa": "f1", "retrieval": "accuracy"}
XLMR_LADDER: tuple[tuple[str, int], ...] = (("base", 270_000_000), ("large", 560_000_000),
                                            ("xl", 3_500_000_000), ("xxl", 10_700_000_000))
LANGUAGES = ("ar", "de", "es", "fr", "hi", "ru", "sw", "th", "tr", "zh", "bg", "el", "ur", "vi", "ja", "ko",
             "id", "fi", "he", "ta", "te", "mr", "bn", "fa", "it", "nl", "pt", "et", "eu", "ka", "kk", "ml",
             "my", "tl", "jv", "yo", "af", "hu")
FAMILIES = ("classification", "tagging", "qa", "retrieval")


@dataclass(frozen=True)
class Grid:
    """The shape of a study: the same axes the grid runner loops over."""

    scales: tuple[tuple[str, int], ...] = XLMR_LADDER
    intermediates: tuple[str, ...] = ("mnli", "squad", "hellaswag", "multi")
    targets: tuple[tuple[str, str, str], ...] = XTREME_TARGETS  # (name, family, primary metric)
    languages: tuple[str, ...] = LANGUAGES[:10]
    seeds: tuple[int, ...] = (0, 1, 2)
    english: bool = True

    @classmethod
    def make(cls, n_scales: int = 4, n_intermediates: int = 3, n_targets: int = 4, n_languages: int = 8,
             n_seeds: int = 3, min_params: float = 270e6, max_params: float = 10.7e9, english: bool = True) -> Grid:
        """A grid by its sizes: scales log-spaced over the XLM-R range, targets cycling the four families."""
        params = np.geomspace(min_params, max_params, n_scales) if n_scales > 1 else np.array([min_params])
        scales = tuple((f"s{i}", int(round(p))) for i, p in enumerate(params))
        targets = tuple((f"t{i}_{FAMILIES[i % 4]}", FAMILIES[i % 4], FAMILY_METRIC[FAMILIES[i % 4]])
                        for i in range(n_targets))
        return cls(scales=scales, intermediates=tuple(f"int{i}" for i in range(n_intermediates)), targets=targets,
                   languages=LANGUAGES[:n_languages], seeds=tuple(range(n_seeds)), english=english)

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """(scales, intermediates + baseline, targets, languages incl. English, seeds)."""
        return (len(self.scales), len(self.intermediates) + 1, len(self.targets),
                len(self.languages) + int(self.english), len(self.seeds))

    def describe(self) -> str:
        return (f"{len(self.scales)} scales x {len(self.intermediates)} intermediates x {len(self.targets)} targets x "
                f"{len(self.languages)} languages x {len(self.seeds)} seeds")


@dataclass(frozen=True)
class Truth:
    """The data-generating values, in points (0-100 scale). ``slope`` is the target of inference:
    change of the absolute gain (non-English) per doubling of parameters, the same for every family."""

    slope: float = 0.0
    mean_gain: float = 1.0
    family_gain: tuple[tuple[str, float], ...] = (("classification", 0.5), ("tagging", 0.0), ("qa", 1.5),
                                                  ("retrieval", 5.0))
    sd_intermediate: float = 0.8   # fixed offsets per intermediate task, redrawn per study
    sd_target: float = 1.0         # random effect of the target task on the gain
    sd_language: float = 0.7       # random effect of the language on the gain
    sd_seed: float = 0.3           # seed effect on the gain shared across cells (same data order)
    sd_run: float = 0.7            # one fine-tuned model: shared by all languages it is scored on
    sd_resid: float = 0.8          # one language score of one model
    sd_target_slope: float = 0.0   # per-target deviations of the slope (heterogeneity; >0 breaks the model)
    baseline_mean: float = 50.0
    baseline_slope: float = 2.5    # baseline points per doubling (XLM-R/mT5 ladders: 2-5)
    sd_baseline_target: float = 6.0
    sd_baseline_language: float = 4.0
    english_offset: float = 15.0


def _x(grid: Grid) -> np.ndarray:
    return np.log2(np.array([p for _, p in grid.scales], dtype=float))


def simulate_scores(grid: Grid, truth: Truth, rng: np.random.Generator) -> np.ndarray:
    """Score array of shape ``grid.shape``; index 0 of axis 1 is the baseline, the last language is English."""
    S, I1, T, L, K = grid.shape
    x = _x(grid)
    xc = x - x.mean()
    fam = dict(truth.family_gain)
    fam_t = np.array([fam.get(f, 0.0) for _, f, _ in grid.targets])
    base_t = truth.baseline_mean + rng.normal(0, truth.sd_baseline_target, T)
    bslope_t = np.abs(truth.baseline_slope + rng.normal(0, truth.baseline_slope / 3, T))
    lang = rng.normal(0, truth.sd_baseline_language, L)
    if grid.english:
        lang[-1] = truth.english_offset
    lang_t = rng.normal(0, truth.sd_baseline_language / 2, (T, L))
    base = (base_t[None, :, None] + bslope_t[None, :, None] * (x - x.min())[:, None, None]
            + lang[None, None, :] + lang_t[None, :, :])                                   # (S, T, L)
    g_i = rng.normal(0, truth.sd_intermediate, I1 - 1)
    v_t = rng.normal(0, truth.sd_target, T)
    w_l = rng.normal(0, truth.sd_language, L)
    slope_t = truth.slope + rng.normal(0, truth.sd_target_slope, T) if truth.sd_target_slope > 0 else \
        np.full(T, truth.slope)
    gain = (truth.mean_gain + g_i[None, :, None, None] + (fam_t + v_t)[None, None, :, None]
            + (slope_t[None, :] * xc[:, None])[:, None, :, None] + w_l[None, None, None, :])   # (S, I, T, L)
    seed = rng.normal(0, truth.sd_seed, K)
    scores = np.broadcast_to(base[:, None, :, :, None], (S, I1, T, L, K)).copy()
    scores[:, 1:] += gain[..., None] + seed[None, None, None, None, :]
    scores += rng.normal(0, truth.sd_run, (S, I1, T, 1, K))
    scores += rng.normal(0, truth.sd_resid, (S, I1, T, L, K))
    return np.clip(scores, 0.0, 100.0)


def to_results(grid: Grid, scores: np.ndarray, study: str = "sim", fail_rate: float = 0.0,
               rng: np.random.Generator | None = None) -> pd.DataFrame:
    """The tidy results table other parts of xw write, from a score array.

    QA targets also get a non-primary exact-match row. ``fail_rate`` removes whole runs (all
    languages of one (scale, intermediate-or-baseline, target, seed)), as a crashed cell would.
    """
    S, I1, T, L, K = scores.shape
    langs = list(grid.languages) + (["en"] if grid.english else [])
    inters = [BASELINE, *grid.intermediates]
    idx = np.indices(scores.shape).reshape(5, -1)
    df = pd.DataFrame({
        "study": study,
        "scale": np.array([s for s, _ in grid.scales])[idx[0]],
        "params": np.array([p for _, p in grid.scales], dtype=np.int64)[idx[0]],
        "intermediate_task": np.array(inters)[idx[1]],
        "target_task": np.array([t for t, _, _ in grid.targets])[idx[2]],
        "task_family": np.array([f for _, f, _ in grid.targets])[idx[2]],
        "language": np.array(langs)[idx[3]],
        "split": "dev",
        "seed": np.array(grid.seeds)[idx[4]],
        "metric": np.array([m for _, _, m in grid.targets])[idx[2]],
        "value": scores.reshape(-1),
        "primary": True,
    })
    df["model"] = "sim-" + df["scale"]
    if fail_rate > 0:
        rng = rng or np.random.default_rng()
        failed = rng.random((S, I1, T, K)) < fail_rate
        df = df[~failed[idx[0], idx[1], idx[2], idx[4]]]
    qa = df[df["task_family"] == "qa"].copy()
    if len(qa):
        qa["metric"] = "exact_match"
        qa["value"] = np.clip(qa["value"] - 15.0, 0, 100)
        qa["primary"] = False
        df = pd.concat([df, qa], ignore_index=True)
    df["git_commit"] = "simulated"
    df["finished_at"] = "2020-01-01T00:00:00"
    df["device"] = "simulator"
    df["wall_seconds"] = 0.0
    cols = ["study", "model", "scale", "params", "intermediate_task", "target_task", "task_family", "language",
            "split", "seed", "metric", "value", "primary", "git_commit", "finished_at", "device", "wall_seconds"]
    return df[cols].reset_index(drop=True)


def simulate_results(grid: Grid | None = None, truth: Truth | None = None, seed: int = 0, study: str = "sim",
                     fail_rate: float = 0.0) -> pd.DataFrame:
    """One simulated results table (the notebook and tests run on it)."""
    grid, truth = grid or Grid(), truth or Truth()
    rng = np.random.default_rng(seed)
    return to_results(grid, simulate_scores(grid, truth, rng), study=study, fail_rate=fail_rate, rng=rng)


def fast_slope(grid: Grid, scores: np.ndarray) -> tuple[float, float, float]:
    """``fit_cells`` on a score array without pandas: (slope, SE, df). Same numbers, ~100x faster,
    so power searches over many grids stay cheap."""
    n_lang = len(grid.languages)
    gains = scores[:, 1:, :, :n_lang, :] - scores[:, :1, :, :n_lang, :]
    y = gains.mean(axis=(1, 3))                                               # (S, T, K)
    S, T, K = y.shape
    x = _x(grid)
    xc = x - np.mean(np.unique(x))
    s_idx, t_idx, k_idx = (a.reshape(-1) for a in np.indices((S, T, K)))
    cols = [np.ones(S * T * K)]
    cols += [(t_idx == t).astype(float) for t in range(1, T)]
    cols += [(k_idx == k).astype(float) for k in range(1, K)]
    cols.append(xc[s_idx])
    fams = sorted({f for _, f, _ in grid.targets})
    fam_of_t = np.array([fams.index(f) for _, f, _ in grid.targets])[t_idx]
    for j in range(len(fams) - 1):  # sum coding, like patsy's C(task_family, Sum)
        code = np.where(fam_of_t == j, 1.0, np.where(fam_of_t == len(fams) - 1, -1.0, 0.0))
        cols.append(xc[s_idx] * code)
    X = np.column_stack(cols)
    beta, _, rank, _ = np.linalg.lstsq(X, y.reshape(-1), rcond=None)
    df = X.shape[0] - rank
    resid = y.reshape(-1) - X @ beta
    sigma2 = resid @ resid / df
    cov = sigma2 * np.linalg.pinv(X.T @ X)
    j = 1 + (T - 1) + (K - 1)
    return float(beta[j]), float(np.sqrt(cov[j, j])), float(df)


Estimator = Callable[[pd.DataFrame], SlopeFit]
ESTIMATORS: dict[str, Estimator] = {
    "mixed": lambda g: fit_slope(g, "absolute", random="runs"),
    "crossed": lambda g: fit_slope(g, "absolute", random="crossed"),
    "cells": lambda g: fit_cells(g, "absolute"),
    "ols-cluster": lambda g: fit_ols_cluster(g, "absolute"),
}


def _one_study(grid: Grid, truth: Truth, seed: int, estimator: str, bootstrap: int) -> dict:
    rng = np.random.default_rng(seed)
    scores = simulate_scores(grid, truth, rng)
    if estimator == "fast":
        est, se, df = fast_slope(grid, scores)
        q = stats.t.ppf(0.975, df)
        row = {"estimate": est, "se": se, "ci_low": est - q * se, "ci_high": est + q * se, "df": df,
               "method": "OLS on baseline-run means (numpy)"}
    else:
        gains = compute_gains(to_results(grid, scores))
        fit = ESTIMATORS[estimator](gains)
        row = {"estimate": fit.estimate, "se": fit.se, "ci_low": fit.ci_low, "ci_high": fit.ci_high,
               "df": fit.df, "method": fit.method}
        if bootstrap:
            from xw.analysis.robustness import cluster_bootstrap
            boot = cluster_bootstrap(gains, n_boot=bootstrap, seed=seed)
            row.update({"boot_low": boot.ci_low, "boot_high": boot.ci_high, "raw_boot_low": boot.raw_ci_low,
                        "raw_boot_high": boot.raw_ci_high})
    return row


def _verdict_word(lo: float, hi: float) -> str:
    return "amplifies" if lo > 0 else "diminishes" if hi < 0 else "no evidence"


def _limit_worker_threads() -> None:
    """Process-pool initializer: one BLAS thread per worker for its whole life."""
    single_threaded(lambda: None)  # imports threadpoolctl early, if present
    try:
        from threadpoolctl import threadpool_limits
        globals()["_WORKER_LIMITS"] = threadpool_limits(1, user_api="blas")
    except ImportError:
        pass


@single_threaded
def run_studies(grid: Grid, truth: Truth, n_sims: int = 200, estimator: str = "mixed", seed: int = 0,
                bootstrap: int = 0, n_jobs: int = 1) -> pd.DataFrame:
    """Estimates from ``n_sims`` simulated studies; one row each (seeded, so reproducible)."""
    seeds = [seed * 1_000_003 + i for i in range(n_sims)]
    if n_jobs > 1:
        from concurrent.futures import ProcessPoolExecutor
        with ProcessPoolExecutor(n_jobs, initializer=_limit_worker_threads) as pool:
            rows = list(pool.map(_one_study, [grid] * n_sims, [truth] * n_sims, seeds, [estimator] * n_sims,
                                 [bootstrap] * n_sims, chunksize=max(1, n_sims // (4 * n_jobs))))
    else:
        rows = [_one_study(grid, truth, s, estimator, bootstrap) for s in seeds]
    out = pd.DataFrame(rows)
    out["true_slope"] = truth.slope
    out["covered"] = (out["ci_low"] <= truth.slope) & (truth.slope <= out["ci_high"])
    out["verdict"] = [_verdict_word(lo, hi) for lo, hi in zip(out["ci_low"], out["ci_high"], strict=True)]
    if bootstrap:
        out["boot_covered"] = (out["boot_low"] <= truth.slope) & (truth.slope <= out["boot_high"])
        out["raw_boot_covered"] = (out["raw_boot_low"] <= truth.slope) & (truth.slope <= out["raw_boot_high"])
    return out


def summarize(runs: pd.DataFrame) -> dict:
    """Coverage, sign recovery and verdict accuracy of a batch of simulated studies."""
    b = float(runs["true_slope"].iloc[0])
    truth_word = _verdict_word(b, b) if b != 0 else "no evidence"
    est = runs["estimate"]
    row = {"true_slope": b, "n_sims": len(runs), "mean_estimate": float(est.mean()), "bias": float(est.mean() - b),
           "empirical_sd": float(est.std(ddof=1)), "mean_se": float(runs["se"].mean()),
           "coverage": float(runs["covered"].mean()),
           "sign_recovered": float((np.sign(est) == np.sign(b)).mean()) if b != 0 else np.nan,
           "verdict_correct": float((runs["verdict"] == truth_word).mean()),
           "method": runs["method"].iloc[0]}
    if "boot_covered" in runs:
        row["bootstrap_coverage"] = float(runs["boot_covered"].mean())
        row["raw_bootstrap_coverage"] = float(runs["raw_boot_covered"].mean())
    return row


def validate(grid: Grid | None = None, slopes: Sequence[float] = (0.3, 0.0, -0.3), n_sims: int = 200,
             estimator: str = "mixed", truth: Truth | None = None, seed: int = 0, bootstrap: int = 0,
             n_jobs: int = 1) -> pd.DataFrame:
    """Coverage / sign-recovery table: one row per true slope, ``n_sims`` simulated studies each."""
    grid, truth = grid or Grid.make(), truth or Truth()
    rows = []
    for j, b in enumerate(slopes):
        t0 = time.perf_counter()
        runs = run_studies(grid, replace(truth, slope=b), n_sims, estimator, seed + 7919 * j, bootstrap, n_jobs)
        row = summarize(runs)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
    out = pd.DataFrame(rows)
    out.attrs["grid"] = grid.describe()
    return out


def _mds(se: float, df: float, power: float = 0.8, alpha: float = 0.05) -> float:
    """Slope whose two-sided t test at ``alpha`` rejects with probability ``power`` (noncentral t)."""
    crit = stats.t.ppf(1 - alpha / 2, df)

    def gap(delta: float) -> float:
        got = stats.nct.sf(crit, df, delta) + stats.nct.cdf(-crit, df, delta)
        return float(np.nan_to_num(got, nan=1.0)) - power  # nct loses precision far in the tail

    if not (np.isfinite(se) and df >= 1):
        return float("nan")
    return float(optimize.brentq(gap, 0.0, 20.0 + crit) * se)


def power_table(grids: Sequence[Grid], truth: Truth | None = None, n_sims: int = 200, power: float = 0.8,
                seed: int = 0, confirm: bool = True) -> pd.DataFrame:
    """Smallest slope (points per doubling) each grid detects ``power`` of the time at alpha 0.05.

    The SE of the slope does not depend on the true slope, so it is measured once under slope 0
    (``n_sims`` studies, fast estimator), turned into a minimum detectable slope with the noncentral
    t, then checked: ``n_sims`` more studies at that slope give the empirical power.
    """
    truth = truth or Truth()
    rows = []
    for j, grid in enumerate(grids):
        null = run_studies(grid, replace(truth, slope=0.0), n_sims, "fast", seed + 31 * j)
        se = float(np.sqrt((null["se"] ** 2).mean()))
        df = float(null["df"].iloc[0])
        mds = _mds(se, df, power)
        row = {"scales": len(grid.scales), "intermediates": len(grid.intermediates), "targets": len(grid.targets),
               "languages": len(grid.languages), "seeds": len(grid.seeds), "slope_se": se, "df": df,
               "min_detectable_slope": mds, "false_positive_rate": float((null["verdict"] != "no evidence").mean()),
               "mds_over_ladder": mds * (np.log2(grid.scales[-1][1]) - np.log2(grid.scales[0][1]))}
        if confirm:
            hit = run_studies(grid, replace(truth, slope=mds), n_sims, "fast", seed + 31 * j + 17)
            row["empirical_power"] = float((hit["verdict"] == "amplifies").mean())
        rows.append(row)
    return pd.DataFrame(rows)
