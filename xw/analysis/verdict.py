"""The answer in one sentence: does scale amplify or diminish the intermediate-task benefit?

The rule is the 95% CI of the slope on log2(params): wholly above 0 -> "amplifies", wholly below
-> "diminishes", otherwise "no evidence". The sentence names the gain measure, because the three
measures can disagree (a constant absolute gain is a shrinking share of a rising baseline).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xw.analysis.gains import MEASURE_LABELS, format_params
from xw.analysis.models import SlopeFit

SUBJECT = "English intermediate-task training on non-English XTREME targets"


def verdict_word(fit: SlopeFit) -> str:
    """'amplifies', 'diminishes' or 'no evidence', from the 95% CI alone."""
    if not (np.isfinite(fit.ci_low) and np.isfinite(fit.ci_high)):
        return "no evidence"
    if fit.ci_low > 0:
        return "amplifies"
    if fit.ci_high < 0:
        return "diminishes"
    return "no evidence"


def p_phrase(p: float) -> str:
    """A p-value for prose: 'p < 0.001' or 'p = 0.042'."""
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def signed_number(v: float) -> str:
    """A signed number for prose: two decimals, or two significant digits when smaller than 0.01."""
    return f"{v:+.2f}" if abs(v) >= 0.01 or v == 0 else f"{v:+.2g}"


def claim(fit: SlopeFit, detail: str = "") -> str:
    """The verdict as a sentence; ``detail`` (the statistics) goes before the full stop."""
    word = verdict_word(fit)
    label = MEASURE_LABELS[fit.measure]
    size = f"{abs(fit.estimate):.2f} {fit.unit} per doubling of parameters"
    detail = f" {detail}" if detail else ""
    if word == "amplifies":
        return f"Scale amplifies the benefit of {SUBJECT}: the {label} grows by {size}{detail}."
    if word == "diminishes":
        return f"Scale diminishes the benefit of {SUBJECT}: the {label} shrinks by {size}{detail}."
    ending = ", an interval that includes 0." if detail else ", and its 95% CI includes 0."
    return (f"No evidence that scale amplifies or diminishes the benefit of {SUBJECT}: the {label} changes by "
            f"{signed_number(fit.estimate)} {fit.unit} per doubling of parameters{detail}{ending}")


def verdict_sentence(fit: SlopeFit) -> str:
    """The headline: verdict, effect size with its CI, the measure and the model it came from."""
    return claim(fit, f"(slope {signed_number(fit.estimate)}, 95% CI {signed_number(fit.ci_low)} to "
                      f"{signed_number(fit.ci_high)}, {p_phrase(fit.p_value)}; {fit.method}, n = {fit.n} gains)")


def meaning(fit: SlopeFit, gains: pd.DataFrame) -> str:
    """The slope in the study's own terms: change over the ladder against the average gain."""
    from xw.analysis.gains import measure_column

    x = np.unique(gains["log2_params"])
    span = float(x.max() - x.min())
    mean_gain = float(np.nanmean(pd.to_numeric(gains[measure_column(fit.measure)], errors="coerce")))
    lo, hi = sorted((fit.ci_low * span, fit.ci_high * span))
    p_min, p_max = gains["params"].min(), gains["params"].max()
    text = (f"Across the ladder ({format_params(p_min)} -> {format_params(p_max)} parameters, {span:.1f} doublings) the "
            f"{MEASURE_LABELS[fit.measure]} changes by {signed_number(fit.estimate * span)} {fit.unit} "
            f"(95% CI {signed_number(lo)} to {signed_number(hi)}), against a mean {MEASURE_LABELS[fit.measure]} of "
            f"{mean_gain:.2f} {fit.unit}.")
    if len(fit.family_slopes) > 1:
        text += (" The slope is the unweighted mean of the per-family slopes (task family is a moderator, so "
                 "retrieval's large gains count once); see the per-family table.")
    return text


def verdict_table(fits: dict[str, SlopeFit]) -> pd.DataFrame:
    """One row per gain measure: slope, CI, p and verdict, so disagreements between measures show."""
    rows = []
    for measure, fit in fits.items():
        row = fit.as_row()
        row["measure"] = measure
        row["verdict"] = verdict_word(fit)
        rows.append(row)
    cols = ["measure", "verdict", "slope_per_doubling", "unit", "ci_low", "ci_high", "p_value", "n", "method", "notes"]
    return pd.DataFrame(rows)[cols]
