"""Language covariates: do traits of the target language (family, script, pretraining-data size) shift
the gain or its slope on log2(params)? Exploratory, beside the verdict's model (xw.analysis.models)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import patsy
import statsmodels.api as sm

from xw.analysis.design import SLOPE, n_levels, prepare, single_threaded

COVARIATE_ALIASES = {"family": "language_family", "language_family": "language_family", "script": "script"}
SIZE_COLUMNS = ("pretrain_size", "pretraining_size", "pretrain_tokens", "pretrain_gb", "pretrain_mb",
                "data_size", "cc_size")


@single_threaded
def fit_language_covariates(gains: pd.DataFrame, metadata: pd.DataFrame, measure: str = "absolute") -> pd.DataFrame:
    """Do language traits (family, script, log2 pretraining-data size) shift the gain or its slope?

    OLS of the gain on the run-level fixed effects plus each covariate and its interaction with
    log2(params); SEs are clustered by language, the covariate's unit (run-level noise is shared by
    all languages of a run, so it cancels from between-language contrasts). With few languages the
    t reference has few df: read these as exploratory.
    Returns one row per covariate term; empty when the metadata has none of the known columns.
    """
    if "language" not in metadata.columns:
        raise ValueError("language metadata needs a 'language' column")
    meta = metadata.rename(columns={k: v for k, v in COVARIATE_ALIASES.items() if k in metadata.columns})
    cats = [c for c in ("language_family", "script") if c in meta.columns]
    sizes = [c for c in SIZE_COLUMNS if c in meta.columns]
    if not cats and not sizes:
        return pd.DataFrame()
    d, _ = prepare(gains, measure)
    d = d.merge(meta[["language", *cats, *sizes]].drop_duplicates("language"), on="language", how="inner")
    covs = []
    for c in cats:
        d[c] = d[c].astype(str)
        if d[c].nunique() > 1:
            covs.append(f"C({c}, Sum)")
    for c in sizes:
        vals = pd.to_numeric(d[c], errors="coerce")
        d[f"log2_{c}"] = np.log2(vals.where(vals > 0))
        d[f"log2_{c}"] -= d[f"log2_{c}"].mean()
        covs.append(f"log2_{c}")
    d = d.dropna(subset=[f"log2_{c}" for c in sizes])
    if not covs or d.empty:
        return pd.DataFrame()
    base = [f"C({c})" for c in ("intermediate_task", "target_task", "seed") if n_levels(d, c) > 1]
    formula = "y ~ " + " + ".join([*base, SLOPE, *covs, *[f"{SLOPE}:{c}" for c in covs]])
    y, X = patsy.dmatrices(formula, d, return_type="dataframe")
    clusters = pd.factorize(d["language"])[0]
    res = sm.OLS(y.iloc[:, 0], X).fit(cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True)
    ci = res.conf_int()
    keep = [n for n in X.columns if any(c in n for c in covs)]
    out = pd.DataFrame({"term": keep, "coef": res.params[keep].to_numpy(), "se": res.bse[keep].to_numpy(),
                        "ci_low": ci.loc[keep, 0].to_numpy(), "ci_high": ci.loc[keep, 1].to_numpy(),
                        "p_value": res.pvalues[keep].to_numpy()})
    out["meaning"] = np.where(out["term"].str.startswith(f"{SLOPE}:"),
                              "change in the slope per doubling", "shift in the gain")
    out.attrs["languages"] = int(d["language"].nunique())
    return out
