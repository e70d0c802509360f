"""Slope of the gain on log2(params): the mixed model the verdict rests on, and its relatives.

Why the random part looks the way it does. A gain is score(intermediate run) - score(baseline run)
for one (scale, target, language, seed). One baseline fine-tune per (scale, target, seed) enters
every intermediate's gain, and its per-language scores enter every intermediate's gain for that
language; one intermediate fine-tune per (scale, intermediate, target, seed) is evaluated on every
language. Those shared runs are the replication units of a slope across scales, so the default
model (``random="runs"``) has a group per baseline run (random intercept), a variance component for
the intermediate run inside it and one for the language cell inside it. Target, language and seed
are crossed with scale, so they enter as fixed intercepts and cost the slope nothing.

``random="crossed"`` is the textbook crossed model (one all-encompassing group, variance
components for target, language and seed). It treats the languages scored from one fine-tuned
model as independent and, in simulation (``benchmarks/analysis_validation.py``), its CI is about
three times too narrow; it is kept for comparison, not for the verdict.

Task family moderates the slope where there is more than one family: the slope term is
``x + x:C(task_family, Sum)``, so the coefficient of ``x`` is the unweighted mean of the family
slopes (retrieval, which dominates the gains, counts once, not once per target), and per-family
slopes are reported beside it.
"""


from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
import statsmodels.api as sm
from scipy import stats
from statsmodels.regression.mixed_linear_model import MixedLM
from statsmodels.tools.sm_exceptions import ConvergenceWarning

from xw.analysis.design import (
    SLOPE,
    family_slopes,
    fixed_formula,
    group_df,
    n_levels,
    prepare,
    random_structure,
    run_means,
    single_threaded,
    t_summary,
    vc_spec,
)
from xw.analysis.gains import MEASURES


@dataclass
class SlopeFit:
    """The slope of a gain measure per doubling of parameters, with everything a reader needs to trust it."""

    measure: str
    unit: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float
    n: int
    n_groups: int
    method: str
    random: str
    notes: list[str] = field(default_factory=list)
    variance_components: dict[str, float] = field(default_factory=dict)
    family_slopes: pd.DataFrame = field(default_factory=pd.DataFrame)
    fixed_effects: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def covers(self) -> Callable[[float], bool]:
        """``fit.covers(true_slope)``: whether the 95% CI contains a value (used by validation)."""
        return lambda value: bool(self.ci_low <= value <= self.ci_high)

    def as_row(self) -> dict:
        """One flat row for tables (per-target slopes, measure comparison)."""
        return {"measure": self.measure, "unit": self.unit, "slope_per_doubling": self.estimate, "se": self.se,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "p_value": self.p_value, "df": self.df,
                "n": self.n, "n_groups": self.n_groups, "method": self.method,
                "notes": "; ".join(self.notes)}


@single_threaded
def fit_ols_cluster(gains: pd.DataFrame, measure: str = "absolute") -> SlopeFit:
    """OLS on all gains with SEs clustered by baseline run (CR1, t with G-1 df).

    Kept for comparison only: with a few dozen runs and ~15 fixed effects its SE was about a
    third too small in simulation, so the verdict's fallback is ``fit_cells`` instead.
    """
    d, notes = prepare(gains, measure)
    y, X = patsy.dmatrices(fixed_formula(d, "runs"), d, return_type="dataframe")
    groups = pd.factorize(d["brun"])[0]
    res = sm.OLS(y.iloc[:, 0], X).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    n_groups = int(len(np.unique(groups)))
    df = float(n_groups - 1)
    est, se = float(res.params[SLOPE]), float(res.bse[SLOPE])
    lo, hi, p = t_summary(est, se, df)
    cov = pd.DataFrame(res.cov_params(), index=X.columns, columns=X.columns)
    return SlopeFit(measure, MEASURES[measure][1], est, se, lo, hi, p, df, int(len(d)), n_groups,
                    "OLS, cluster-robust by baseline run", "cluster", notes, {}, family_slopes(res.params, cov, d, df),
                    pd.DataFrame({"coef": res.params, "se": res.bse}))


def _fallback(gains: pd.DataFrame, measure: str, random: str, notes: list[str], reason: str) -> SlopeFit:
    """When MixedLM cannot be trusted: OLS on baseline-run means. Each run is one observation, so no
    within-run correlation can bias the SE, and in a balanced grid it equals the mixed model's slope."""
    fit = fit_cells(gains, measure)
    fit.random = random
    fit.notes = [*notes, f"MixedLM not used ({reason}); fell back to OLS on baseline-run means "
                         f"({fit.n_groups} runs, t with {fit.df:.0f} df)"]
    return fit


@single_threaded
def fit_slope(gains: pd.DataFrame, measure: str = "absolute", random: str = "runs") -> SlopeFit:
    """Mixed-model slope of ``measure`` per doubling of parameters (the verdict's estimator).

    Degrades instead of failing: single-level factors and variance components are dropped, other
    optimizers are tried, and a MixedLM that still raises, does not converge or gives a non-finite
    SE is replaced by OLS on baseline-run means (``fit_cells``); every such step is written to
    ``notes``. The CI uses t with the between-run residual df (see ``group_df``).
    """
    d, notes = prepare(gains, measure)
    if n_levels(d, "scale") < 2:
        raise ValueError("the slope on log2(params) needs at least two scales with gains")
    y, X = patsy.dmatrices(fixed_formula(d, random), d, return_type="dataframe")
    y = y.iloc[:, 0]
    n_groups, df = group_df(d)
    if df < 1:
        notes.append(f"only {n_groups} baseline runs for the run-level fixed effects: no residual df, z used")
    if np.linalg.matrix_rank(X.to_numpy()) < X.shape[1]:
        return _fallback(gains, measure, random, notes, "fixed effects are collinear (unbalanced grid)")
    groups, intercept, comps, vc_notes = random_structure(d, random)
    notes += vc_notes
    sizes = np.bincount(groups)
    if intercept and sizes.max() < 2:
        return _fallback(gains, measure, random, notes, "one gain per baseline run: nothing to share")
    exog_re = np.ones((len(d), 1)) if intercept else None
    vc = vc_spec(d, groups, comps) if comps else None
    res, caught, errors = None, [], []
    for method in ("lbfgs", "bfgs", "nm", "powell"):  # the same likelihood; optimizers fail differently
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model = MixedLM(y.to_numpy(), X.to_numpy(), groups, exog_re=exog_re, exog_vc=vc)
                res = model.fit(reml=True, method=[method])
            cov = np.asarray(res.cov_params())[: X.shape[1], : X.shape[1]]
            j = list(X.columns).index(SLOPE)
            se = float(np.sqrt(cov[j, j]))
            if res.converged and np.isfinite(se) and se > 0:
                break
            errors.append(f"{method}: {'no finite SE' if res.converged else 'did not converge'}")
        except (np.linalg.LinAlgError, ValueError, FloatingPointError) as exc:
            errors.append(f"{method}: {exc}")
        res = None
    if res is None:
        return _fallback(gains, measure, random, notes, "MixedLM failed with every optimizer: " + "; ".join(errors))
    if errors:
        notes.append("MixedLM needed another optimizer (" + "; ".join(errors) + ")")
    params = pd.Series(np.asarray(res.fe_params), index=X.columns)
    cov = pd.DataFrame(cov, index=X.columns, columns=X.columns)
    if any(issubclass(w.category, ConvergenceWarning) and "boundary" in str(w.message) for w in caught):
        notes.append("a variance component is estimated on the boundary (zero); the fit is still valid")
    vcomp = {}
    if intercept:
        vcomp["baseline run" if random == "runs" else "group"] = float(np.asarray(res.cov_re)[0, 0])
    for name, value in zip(comps, np.atleast_1d(res.vcomp), strict=False):
        vcomp[name] = float(value)
    vcomp["residual"] = float(res.scale)
    est = float(params[SLOPE])
    lo, hi, p = t_summary(est, se, df)
    fe = pd.DataFrame({"coef": params, "se": np.sqrt(np.diag(cov))})
    method = "MixedLM (REML), groups = baseline runs" if random == "runs" else "MixedLM (REML), crossed components"
    return SlopeFit(measure, MEASURES[measure][1], est, se, lo, hi, p, float(df), int(len(d)), int(n_groups),
                    method, random, notes, vcomp, family_slopes(params, cov, d, df), fe)



@single_threaded
def fit_cells(gains: pd.DataFrame, measure: str = "absolute") -> SlopeFit:
    """Fast two-stage estimator: average gains within each baseline run, then OLS across runs.

    In a balanced grid it gives the mixed model's slope exactly and an exact t interval under
    normal noise, at a thousandth of the cost; with missing runs it weights runs equally instead of
    by their information. The simulator's power table uses it.
    """
    d, notes = prepare(gains, measure)
    cells = run_means(d)
    terms = [f"C({c})" for c in ("target_task", "seed") if n_levels(cells, c) > 1]
    terms.append(SLOPE)
    if n_levels(cells, "task_family") > 1:
        terms.append(f"{SLOPE}:C(task_family, Sum)")
    res = sm.OLS.from_formula("y ~ " + " + ".join(terms), cells).fit()
    df = float(res.df_resid)
    est, se = float(res.params[SLOPE]), float(res.bse[SLOPE])
    lo, hi, p = t_summary(est, se, df)
    cov = res.cov_params()
    return SlopeFit(measure, MEASURES[measure][1], est, se, lo, hi, p, df, int(len(d)), int(len(cells)),
                    "OLS on baseline-run means", "cells", notes, {"run mean residual": float(res.scale)},
                    family_slopes(res.params, cov, cells, df), pd.DataFrame({"coef": res.params, "se": res.bse}))


def fit_per(gains: pd.DataFrame, by: str = "target_task", measure: str = "absolute",
            estimator: Callable[..., SlopeFit] = fit_slope) -> pd.DataFrame:
    """One model per level of ``by`` (target task by default): the forest plot's rows."""
    rows = []
    for level, sub in gains.groupby(by, sort=True):
        row = {by: level}
        if by == "target_task":
            row["task_family"] = sub["task_family"].iloc[0]
        try:
            row.update(estimator(sub, measure=measure).as_row())
        except ValueError as exc:
            row.update({"slope_per_doubling": np.nan, "se": np.nan, "notes": str(exc)})
        rows.append(row)
    return pd.DataFrame(rows)


@single_threaded
def slope_heterogeneity_test(gains: pd.DataFrame, measure: str = "absolute") -> dict:
    """F test of target-specific slopes against the family-moderated common slope, on baseline-run
    means (exact under the simulator's model in a balanced grid, unlike Q with estimated SEs)."""
    d, _ = prepare(gains, measure)
    cells = run_means(d)
    if n_levels(cells, "target_task") < 2:
        return {"F": np.nan, "F_df": (0, 0), "F_p": np.nan}
    fe = [f"C({c})" for c in ("target_task", "seed") if n_levels(cells, c) > 1]
    slope = [SLOPE] + ([f"{SLOPE}:C(task_family, Sum)"] if n_levels(cells, "task_family") > 1 else [])
    small = sm.OLS.from_formula("y ~ " + " + ".join(fe + slope), cells).fit()
    big = sm.OLS.from_formula("y ~ " + " + ".join([*fe, f"{SLOPE}:C(target_task)"]), cells).fit()
    k = small.df_resid - big.df_resid
    if k <= 0 or big.df_resid <= 0:
        return {"F": np.nan, "F_df": (0, 0), "F_p": np.nan}
    f = ((small.ssr - big.ssr) / k) / (big.ssr / big.df_resid)
    return {"F": float(f), "F_df": (int(k), int(big.df_resid)), "F_p": float(stats.f.sf(f, k, big.df_resid))}


def heterogeneity(per: pd.DataFrame, gains: pd.DataFrame | None = None, measure: str = "absolute") -> dict:
    """Cochran's Q and I² over per-group slopes: do targets disagree beyond sampling error?

    Q treats the per-target SEs as known; with ~10 runs per target they are estimates, so Q runs a
    little hot. Given ``gains``, the calibrated F test of ``slope_heterogeneity_test`` is added.
    Also the DerSimonian-Laird between-target SD (tau) and the random-effects pooled slope, which
    is what the pooled slope would be if targets were a sample of possible targets.
    """
    ok = per[np.isfinite(per["slope_per_doubling"]) & np.isfinite(per["se"]) & (per["se"] > 0)]
    k = len(ok)
    if k < 2:
        return {"k": k, "Q": np.nan, "df": 0, "p_value": np.nan, "I2": np.nan, "tau": np.nan,
                "pooled_re": np.nan, "pooled_re_se": np.nan,
                "statement": "fewer than two per-target slopes: heterogeneity cannot be assessed"}
    b, w = ok["slope_per_doubling"].to_numpy(), 1.0 / ok["se"].to_numpy() ** 2
    fixed = float(np.sum(w * b) / np.sum(w))
    q = float(np.sum(w * (b - fixed) ** 2))
    dof = k - 1
    p = float(stats.chi2.sf(q, dof))
    i2 = max(0.0, (q - dof) / q) if q > 0 else 0.0
    tau2 = max(0.0, (q - dof) / (np.sum(w) - np.sum(w ** 2) / np.sum(w)))
    w_re = 1.0 / (ok["se"].to_numpy() ** 2 + tau2)
    pooled = float(np.sum(w_re * b) / np.sum(w_re))
    pooled_se = float(np.sqrt(1.0 / np.sum(w_re)))
    out = {"k": k, "Q": q, "df": dof, "p_value": p, "I2": i2, "tau": float(np.sqrt(tau2)),
           "pooled_re": pooled, "pooled_re_se": pooled_se, "F": np.nan, "F_df": (0, 0), "F_p": np.nan}
    if gains is not None:
        out.update(slope_heterogeneity_test(gains, measure))
    q_text = f"Cochran's Q = {q:.1f}, df = {dof}, p = {p:.3g}, I² = {100 * i2:.0f}%"
    if np.isfinite(out["F_p"]):
        q_text += f"; F test on run means F{out['F_df']} = {out['F']:.2f}, p = {out['F_p']:.3g}"
    decisive = out["F_p"] if np.isfinite(out["F_p"]) else p
    if decisive < 0.05:
        out["statement"] = (f"The per-target slopes disagree more than sampling error allows ({q_text}): the "
                            f"pooled slope averages over real differences between targets (between-target SD "
                            f"of slopes ≈ {np.sqrt(tau2):.2f}); read the forest plot before the pooled number.")
    else:
        out["statement"] = f"The per-target slopes are consistent with one common slope ({q_text})."
    return out
