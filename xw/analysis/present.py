"""How the analysis is shown to a reader: the summary card and the formatted tables.

Presentation only: every number comes from an ``Analysis`` (``xw.analysis.pipeline``, seen here as
``AnalysisView``); nothing here fits a model. The notebook calls ``A.summary_card()`` and
``A.table(name)``; ``TABLES`` lists the names. Both display as HTML in JupyterLab and in the exported
report (``xw.report``), which styles the ``xw-*`` classes further; the inline styles keep them readable
in a plain notebook too.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from xw.analysis.gains import MEASURE_LABELS, format_params, measure_column
from xw.analysis.verdict import claim, p_phrase, signed_number, verdict_word

if TYPE_CHECKING:
    from pandas.io.formats.style import Styler

    from xw.analysis.models import SlopeFit
    from xw.analysis.robustness import BootstrapResult


class AnalysisView(Protocol):
    """What is shown of an analysed study: the part of ``xw.analysis.pipeline.Analysis`` read here.

    A protocol, so that this module needs nothing from the pipeline, which imports it."""

    @property
    def fit(self) -> SlopeFit: ...
    @property
    def fits(self) -> dict[str, SlopeFit]: ...
    @property
    def gains(self) -> pd.DataFrame: ...
    @property
    def gain_measure(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def verdict_word(self) -> str: ...
    @property
    def per_target(self) -> pd.DataFrame: ...
    @property
    def per_intermediate(self) -> pd.DataFrame: ...
    @property
    def heterogeneity(self) -> dict: ...
    @property
    def bootstrap(self) -> BootstrapResult: ...
    @property
    def equivalent(self) -> pd.DataFrame: ...
    def describe_data(self) -> str: ...
    def verdict_table(self) -> pd.DataFrame: ...
    def bootstrap_table(self) -> pd.DataFrame: ...
    def equivalent_summary(self) -> pd.DataFrame: ...
    def dropped(self) -> pd.DataFrame: ...
    def family_slopes(self) -> pd.DataFrame: ...
    def variance_components(self) -> pd.DataFrame: ...
    def gain_table(self) -> pd.DataFrame: ...
    def language_covariates(self) -> pd.DataFrame: ...

#: verdict word -> badge colour
VERDICT_COLOURS = {"amplifies": "#1a7f37", "diminishes": "#b35900", "no evidence": "#57606a"}
SUMMARY_CLASS = "xw-summary"  # xw.report looks for it: the page then needs no second verdict box


class HTMLBlock:
    """Something the notebook displays as HTML (text/html) with a plain-text fallback (text/plain)."""

    def __init__(self, html_text: str, text: str) -> None:
        self.html, self.text = html_text, text

    def _repr_html_(self) -> str:
        return self.html

    def __repr__(self) -> str:
        return self.text


# ----------------------------------------------------------------------------- summary card

def headline(fit: SlopeFit) -> str:
    """The verdict in one sentence, without the statistics (the card gives those on the next line)."""
    return claim(fit)


def effect_size(fit: SlopeFit) -> str:
    return (f"{signed_number(fit.estimate)} {fit.unit} per doubling of parameters, 95% CI "
            f"{signed_number(fit.ci_low)} to {signed_number(fit.ci_high)} ({p_phrase(fit.p_value)}; {fit.method}; "
            f"{fit.n} paired gains).")


def plain_words(a: AnalysisView) -> str:
    """What the slope means for someone choosing a model size: the gain at both ends of the ladder,
    what it is worth in parameters, and the verdict as advice."""
    fit, g = a.fit, a.gains
    col = measure_column(a.gain_measure)
    by_scale = g.groupby("params")[col].mean().sort_index()
    lo_p, hi_p = by_scale.index[0], by_scale.index[-1]
    label = MEASURE_LABELS[a.gain_measure]
    text = []
    if len(by_scale) > 1:
        text.append(f"Averaged over targets, intermediate tasks, languages and seeds, English intermediate-task "
                    f"training adds {signed_number(by_scale.iloc[0])} {fit.unit} at {format_params(lo_p)} "
                    f"parameters and {signed_number(by_scale.iloc[-1])} {fit.unit} at {format_params(hi_p)} "
                    f"({label}).")
    span = float(np.ptp(np.unique(g["log2_params"])))
    word = verdict_word(fit)
    over = (f"over the whole ladder ({span:.1f} doublings) the model puts the change at "
            f"{signed_number(fit.estimate * span)} {fit.unit} (95% CI {signed_number(min(fit.ci_low, fit.ci_high) * span)} to "
            f"{signed_number(max(fit.ci_low, fit.ci_high) * span)})")
    if word == "amplifies":
        text.append(f"Bigger models get more out of intermediate-task training, not less: {over}.")
    elif word == "diminishes":
        text.append(f"Bigger models get less out of intermediate-task training, as if scale already gave part of "
                    f"its benefit: {over}.")
    else:
        text.append(f"Within this ladder the benefit neither clearly grows nor shrinks with size: {over}.")
    factors = _equivalent_ends(a)
    if factors:
        text.append("In parameters, the gain is worth what " + " and ".join(
            f"×{f:.1f} more parameters buy the baseline at {format_params(p)}" for p, f in factors)
            + " (median over targets and intermediate tasks).")
    return " ".join(text)


def _equivalent_ends(a: AnalysisView) -> list[tuple[float, float]]:
    try:
        eq = a.equivalent
    except Exception:  # noqa: BLE001 - the card must not fail on an optional number
        return []
    if eq.empty or "param_factor" not in eq.columns:
        return []
    med = eq.groupby("params")["param_factor"].median().dropna().sort_index()
    med = med[np.isfinite(med)]
    if med.empty:
        return []
    ends = [med.index[0], med.index[-1]] if len(med) > 1 else [med.index[0]]
    return [(float(p), float(med.loc[p])) for p in ends]


def summary_items(a: AnalysisView) -> list[tuple[str, str]]:
    """(label, text) pairs of the card after the headline; also the card's plain-text form."""
    fit = a.fit
    items = [("Effect size", effect_size(fit)), ("In plain words", plain_words(a)),
             ("Robustness", a.bootstrap.describe()), ("Do targets agree?", a.heterogeneity["statement"])]
    others = [m for m in a.fits if m != a.gain_measure]
    if others:
        items.append(("Other gain measures", "; ".join(
            f"{MEASURE_LABELS[m]}: {verdict_word(a.fits[m])} ({signed_number(a.fits[m].estimate)} "
            f"{a.fits[m].unit} per doubling, 95% CI {signed_number(a.fits[m].ci_low)} to "
            f"{signed_number(a.fits[m].ci_high)})" for m in others) + "."))
    settings = f"Headline gain measure: {a.gain_measure} (notebook parameter gain_measure); results: {a.source}."
    items.append(("Data", f"{a.describe_data()} {settings}"))
    if fit.notes:
        items.append(("Model notes", "; ".join(fit.notes)))
    return items


def summary_card(a: AnalysisView) -> HTMLBlock:
    word = a.verdict_word
    colour = VERDICT_COLOURS.get(word, "#57606a")
    items = summary_items(a)
    rows = "".join(
        f'<div class="xw-summary-label" style="font-weight:bold;color:#333">{html.escape(k)}</div>'
        f'<div class="xw-summary-text">{html.escape(v)}</div>' for k, v in items)
    card = (
        f'<div class="{SUMMARY_CLASS}" data-verdict="{html.escape(word)}" '
        f'style="border-left:6px solid {colour};padding:0.8em 1em;margin:0.5em 0 1em 0;background:#f6f8fa;'
        f'line-height:1.45">'
        f'<p class="xw-headline" style="font-size:1.25em;line-height:1.4;margin:0 0 0.7em 0">'
        f'<span class="xw-badge" style="background:{colour};color:white;border-radius:4px;padding:2px 8px;'
        f'margin-right:8px;font-size:0.8em;text-transform:uppercase;letter-spacing:0.04em">{html.escape(word)}</span>'
        f'<strong>{html.escape(headline(a.fit))}</strong></p>'
        f'<div class="xw-summary-items" style="display:grid;grid-template-columns:max-content 1fr;'
        f'gap:0.45em 1.2em">{rows}</div></div>')
    text = "\n".join([headline(a.fit), *(f"{k}: {v}" for k, v in items)])
    return HTMLBlock(card, text)


# ----------------------------------------------------------------------------- tables

def _format_p(p: float) -> str:
    if not np.isfinite(p):
        return ""
    return "<\u00a00.001" if p < 0.001 else f"{p:.3f}"


_SIGNED = {"slope_per_doubling", "ci_low", "ci_high", "estimate", "slope"}


def _formatters(df: pd.DataFrame) -> dict[str, Callable[[object], str]]:
    out: dict[str, Callable[[object], str]] = {}
    for col in df.columns:
        if col in ("p_value", "p"):
            out[col] = lambda v: _format_p(float(v)) if v is not None and v == v else ""
        elif col == "params":
            out[col] = lambda v: format_params(float(v)) if v is not None and v == v else ""
        elif col in _SIGNED and pd.api.types.is_float_dtype(df[col]):
            out[col] = lambda v: "" if v is None or v != v else f"{v:+.3f}"
        elif pd.api.types.is_float_dtype(df[col]):
            out[col] = lambda v: "" if v is None or v != v else f"{v:.2f}"
    return out


def styled(df: pd.DataFrame, caption: str = "", max_rows: int = 40, more: str = "") -> Styler | HTMLBlock:
    """A table as a reader sees it: no index, rounded numbers, p-values as '< 0.001', parameters as
    '3.5B', column names in words, a caption; long tables cut at ``max_rows`` with a note."""
    if df is None or df.empty:
        return message(caption + (" " if caption else "") + "(none)")
    shown = df.head(max_rows)
    if len(df) > max_rows:
        caption += f" First {max_rows} of {len(df)} rows" + (f"; the full table is {more}." if more else ".")
    style = shown.style.format(_formatters(shown), na_rep="").hide(axis="index")
    style = style.relabel_index([str(c).replace("_", " ") for c in shown.columns], axis="columns")
    text_cols = [c for c in shown.columns if not pd.api.types.is_numeric_dtype(shown[c])]
    if text_cols:  # words read left-aligned; JupyterLab right-aligns every cell
        style = style.set_properties(subset=text_cols, **{"text-align": "left"})
        style = style.map_index(lambda label: "text-align: left" if label in text_cols else "", axis="columns")
    style = style.set_table_attributes('class="xw-table"')
    if caption:
        style = style.set_caption(caption).set_table_styles(
            [{"selector": "caption", "props": "caption-side: top; text-align: left; color: #444; padding: 4px 0;"}])
    return style


def message(text: str) -> HTMLBlock:
    return HTMLBlock(f'<p class="xw-table-note">{html.escape(text)}</p>', text)


def _per_target(a: AnalysisView):
    cols = ["target_task", "task_family", "slope_per_doubling", "ci_low", "ci_high", "p_value", "n", "notes"]
    per = a.per_target.sort_values("slope_per_doubling", ascending=False, na_position="last")
    per = per[[c for c in cols if c in per.columns]]
    return styled(per, f"Slope of the {MEASURE_LABELS[a.gain_measure]} per doubling of parameters, one model per "
                       f"target ({a.fit.unit}; {a.fit.method}). The forest plot above shows the same rows.")


def _verdicts(a: AnalysisView):
    t = a.verdict_table()
    t = t.assign(measure=[f"{MEASURE_LABELS[m]}{' (headline)' if m == a.gain_measure else ''}"
                          for m in t["measure"]])
    t = t[["measure", "verdict", "slope_per_doubling", "unit", "ci_low", "ci_high", "p_value", "n", "notes"]]
    return styled(t, "The verdict under each of the three gain measures. They can disagree: a constant absolute "
                     "gain is a shrinking share of a rising baseline.")


def _bootstrap(a: AnalysisView):
    return styled(a.bootstrap_table(), f"The slope ({a.fit.unit} per doubling) from the mixed model and from a "
                                       f"cluster bootstrap over languages and seeds; similar intervals mean the "
                                       f"model's assumptions do not drive the answer.")


def _equivalent(a: AnalysisView):
    s = a.equivalent_summary()
    if s.empty:
        return message("Compute-equivalent gain: not available (the baseline does not improve with scale).")
    s = s.assign(column=[f"{sc} ({format_params(p)})" for sc, p in zip(s["scale"], s["params"], strict=True)])
    order = list(dict.fromkeys(s.sort_values("params")["column"]))
    wide = s.pivot(index="intermediate_task", columns="column", values="median_param_factor")[order]
    wide = wide.apply(lambda c: c.map(lambda v: "" if not np.isfinite(v) else f"×{v:.1f}")).reset_index()
    return styled(wide, "Compute-equivalent gain: how many times more parameters the baseline would need to gain as "
                        "much as intermediate-task training does (median over targets; from each target's baseline "
                        "score-vs-log2(params) line; at the top of the ladder this is an extrapolation).")


def _dropped(a: AnalysisView):
    d = a.dropped()
    if d.empty:
        return message("No pairs were dropped: every intermediate-task score has the baseline score of the same "
                       "scale, target, language and seed.")
    keys = [c for c in ("scale", "params", "intermediate_task", "target_task", "seed", "reason") if c in d.columns]
    n_languages = a.gains["language"].nunique()
    agg = (d.groupby(keys, as_index=False, dropna=False)
           .agg(languages=("language", lambda s: f"all {s.nunique()}" if s.nunique() >= n_languages
                           else ", ".join(sorted(map(str, s.unique()))))))
    agg = agg.sort_values([k for k in ("params", "intermediate_task", "target_task", "seed") if k in agg.columns],
                          ignore_index=True)
    return styled(agg, f"{len(d)} incomplete intermediate/baseline pairs left out of every model, grouped by run "
                       f"(a missing run usually means its grid cell failed: see the grid cells at the end).",
                  more="A.dropped()")


def _families(a: AnalysisView):
    return styled(a.family_slopes(), f"Slope per task family ({a.fit.unit} per doubling): the family is a "
                                     f"moderator, and the headline slope is the unweighted mean of these.")


def _per_intermediate(a: AnalysisView):
    cols = ["intermediate_task", "slope_per_doubling", "ci_low", "ci_high", "p_value", "n", "notes"]
    per = a.per_intermediate
    return styled(per[[c for c in cols if c in per.columns]],
                  f"Slope per intermediate task ({a.fit.unit} per doubling), one model each.")


def _variance(a: AnalysisView):
    return styled(a.variance_components(), "Variance components of the headline model.")


def _gains(a: AnalysisView):
    return styled(a.gain_table(), f"Mean {MEASURE_LABELS[a.gain_measure]} ({a.fit.unit}) per scale, intermediate "
                                  f"task and target, over languages and seeds.", more="A.gain_table()")


def _covariates(a: AnalysisView):
    t = a.language_covariates()
    if t.empty:
        return message("Language covariates: no language metadata given (notebook parameter language_metadata: a "
                       "CSV with language, family, script, pretrain_size).")
    return styled(t, "Do language traits shift the gain or its slope?")


#: name -> view; ``Analysis.table(name)``
TABLES: dict[str, Callable[[AnalysisView], object]] = {
    "per_target": _per_target,
    "verdicts": _verdicts,
    "bootstrap": _bootstrap,
    "equivalent": _equivalent,
    "dropped": _dropped,
    "families": _families,
    "per_intermediate": _per_intermediate,
    "variance": _variance,
    "gains": _gains,
    "covariates": _covariates,
}


def table(a: AnalysisView, name: str):
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; tables: {sorted(TABLES)}")
    return TABLES[name](a)
