"""A slope CI that leans on no model: a cluster bootstrap over languages and seeds.

Languages are crossed with everything, so they are resampled as whole clusters across the study.
A seed labels a run, not a shared quantity, so seeds are resampled within each (scale, target):
drawing seed k there takes its baseline run, every intermediate run of that seed and all their
languages along. Each replicate refits a plain OLS slope (intermediate and target intercepts,
family-moderated slope as in the mixed model), as weighted least squares with the resampling counts
as weights, which is the same fit as on stacked copies and a hundred times cheaper.

With few seeds a plain percentile interval is too narrow: a resample of k seeds carries (k-1)/k of
their variance (90% coverage at k = 3 in simulation). So the draws are spread about the point
estimate by sqrt(k/(k-1)) before taking percentiles (the same correction CR1 makes); the raw
interval is kept too. With one seed per run, run-level noise is invisible to the resampling and the
interval is too narrow whatever is done; ``benchmarks/analysis_validation.py`` reports coverage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from xw.analysis.design import prepare, single_threaded


@dataclass
class BootstrapResult:
    """Percentile interval of the OLS slope per doubling over cluster resamples."""

    measure: str
    estimate: float
    ci_low: float
    ci_high: float
    n_boot: int
    n_languages: int
    seeds_per_stratum: float
    draws: np.ndarray
    raw_ci_low: float = float("nan")
    raw_ci_high: float = float("nan")

    def describe(self) -> str:
        text = (f"Cluster bootstrap ({self.n_boot} resamples of {self.n_languages} languages and of seeds within "
                f"each scale x target, ~{self.seeds_per_stratum:.0f} each): OLS slope {self.estimate:+.3f} per "
                f"doubling, 95% CI {self.ci_low:+.3f} to {self.ci_high:+.3f} (percentile, small-sample scaled; "
                f"raw {self.raw_ci_low:+.3f} to {self.raw_ci_high:+.3f}).")
        if self.seeds_per_stratum < 1.5:
            text += " One seed per run: run-to-run noise is invisible to this bootstrap, so its CI is too narrow."
        return text


def _design(d: pd.DataFrame) -> tuple[np.ndarray, int]:
    """Intercept, intermediate and target dummies, x, x times sum-coded family; returns (X, slope column)."""
    cols = [np.ones(len(d))]
    for col in ("intermediate_task", "target_task"):
        codes, levels = pd.factorize(d[col], sort=True)
        cols += [(codes == j).astype(float) for j in range(1, len(levels))]
    j_slope = len(cols)
    x = d["x"].to_numpy(dtype=float)
    cols.append(x)
    fam, fams = pd.factorize(d["task_family"], sort=True)
    last = len(fams) - 1
    for j in range(last):
        cols.append(x * np.where(fam == j, 1.0, np.where(fam == last, -1.0, 0.0)))
    return np.column_stack(cols), j_slope


def _wls_slope(X: np.ndarray, y: np.ndarray, w: np.ndarray, j: int) -> float:
    Xw = X * w[:, None]
    beta = np.linalg.lstsq(Xw.T @ X, Xw.T @ y, rcond=None)[0]
    return float(beta[j])


@single_threaded
def cluster_bootstrap(gains: pd.DataFrame, measure: str = "absolute", n_boot: int = 1000,
                      seed: int = 0) -> BootstrapResult:
    """Percentile 95% CI for the slope, resampling languages and (within scale x target) seeds."""
    d, _ = prepare(gains, measure)
    X, j = _design(d)
    y = d["y"].to_numpy(dtype=float)
    lang, langs = pd.factorize(d["language"], sort=True)
    strata, _ = pd.factorize(d["scale"].astype(str) + "|" + d["target_task"], sort=True)
    seed_codes = pd.factorize(d["seed"], sort=True)[0]
    n_seed = int(seed_codes.max()) + 1
    # seeds present in each stratum (a failed run can leave a stratum short)
    present = np.zeros((strata.max() + 1, n_seed), dtype=bool)
    present[strata, seed_codes] = True
    rng = np.random.default_rng(seed)
    point = _wls_slope(X, y, np.ones(len(y)), j)
    draws = np.empty(n_boot)
    for b in range(n_boot):
        lang_w = np.bincount(rng.integers(0, len(langs), len(langs)), minlength=len(langs)).astype(float)
        seed_w = np.zeros_like(present, dtype=float)
        for s in range(present.shape[0]):
            avail = np.flatnonzero(present[s])
            seed_w[s] = np.bincount(avail[rng.integers(0, len(avail), len(avail))], minlength=n_seed)
        w = lang_w[lang] * seed_w[strata, seed_codes]
        draws[b] = _wls_slope(X, y, w, j)
    raw_lo, raw_hi = np.nanpercentile(draws, [2.5, 97.5])
    k = float(present.sum(axis=1).mean())
    scale = np.sqrt(k / (k - 1)) if k > 1.5 else 1.0
    lo, hi = np.nanpercentile(point + scale * (draws - point), [2.5, 97.5])
    return BootstrapResult(measure, point, float(lo), float(hi), n_boot, len(langs), k, draws,
                           float(raw_lo), float(raw_hi))
