"""Plotly figures of the gains and slopes; each returns a ``go.Figure`` for the notebook to show.

Seeds are the replication unit shown as error bars: scores are first averaged over languages
within a seed, then the bars are +-1 SD of those seed means, so they show run-to-run noise, not
the spread between languages.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from xw.analysis.gains import MEASURE_LABELS, MEASURES, format_params, measure_column
from xw.analysis.models import SlopeFit

PALETTE = qualitative.Plotly + qualitative.D3


def _title(measure: str) -> str:
    return f"{MEASURE_LABELS[measure]} ({MEASURES[measure][1]})"


def _seed_summary(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean over languages within each seed, then mean and SD over seeds."""
    per_seed = df.groupby([*by, "seed"], as_index=False)[value].mean()
    out = per_seed.groupby(by, as_index=False)[value].agg(["mean", "std", "count"])
    return out.fillna({"std": 0.0})


def _grid(n: int, cols: int = 3) -> tuple[int, int]:
    cols = min(cols, n)
    return math.ceil(n / cols), cols


def gain_vs_params(gains: pd.DataFrame, measure: str = "absolute") -> go.Figure:
    """Gain against parameters (log x), one panel per target, one line per intermediate task."""
    col = measure_column(measure)
    summ = _seed_summary(gains, ["target_task", "intermediate_task", "params"], col)
    targets = sorted(summ["target_task"].unique())
    inters = sorted(summ["intermediate_task"].unique())
    rows, cols = _grid(len(targets))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=targets, shared_xaxes=True)
    for k, target in enumerate(targets):
        r, c = divmod(k, cols)
        for j, inter in enumerate(inters):
            s = summ[(summ["target_task"] == target) & (summ["intermediate_task"] == inter)].sort_values("params")
            fig.add_trace(go.Scatter(x=s["params"], y=s["mean"], mode="lines+markers", name=inter,
                                     legendgroup=inter, showlegend=k == 0, line={"color": PALETTE[j % len(PALETTE)]},
                                     error_y={"type": "data", "array": s["std"], "visible": True}),
                          row=r + 1, col=c + 1)
        fig.add_hline(y=0, line={"dash": "dot", "color": "grey"}, row=r + 1, col=c + 1)
    fig.update_xaxes(type="log", title_text="parameters")
    fig.update_layout(title=f"{_title(measure)} vs model size, per target (bars: ±1 SD over seeds)",
                      height=300 * rows, legend_title="intermediate task")
    return fig


def heatmap(gains: pd.DataFrame, measure: str = "absolute") -> go.Figure:
    """Mean gain for each intermediate x target, one panel per scale on a shared colour scale."""
    col = measure_column(measure)
    means = gains.groupby(["params", "scale", "intermediate_task", "target_task"], as_index=False)[col].mean()
    scales = means[["params", "scale"]].drop_duplicates().sort_values("params")
    lim = float(np.nanmax(np.abs(means[col]))) if len(means) else 1.0
    fig = make_subplots(rows=1, cols=len(scales), subplot_titles=[f"{s} ({format_params(p)})" for p, s in
                                                                   scales.itertuples(index=False)],
                        shared_yaxes=True)
    for k, (params, _) in enumerate(scales.itertuples(index=False)):
        m = means[means["params"] == params].pivot(index="intermediate_task", columns="target_task", values=col)
        fig.add_trace(go.Heatmap(z=m.to_numpy(), x=list(m.columns), y=list(m.index), zmin=-lim, zmax=lim, zmid=0,
                                 colorscale="RdBu", showscale=k == 0, colorbar={"title": MEASURES[measure][1]},
                                 text=np.round(m.to_numpy(), 1), texttemplate="%{text}"),
                      row=1, col=k + 1)
    fig.update_layout(title=f"{_title(measure)}: intermediate task x target, per scale", height=420,
                      width=max(700, 330 * len(scales)))
    return fig


def language_gain(gains: pd.DataFrame, measure: str = "absolute") -> go.Figure:
    """Per-language gain against parameters, averaged over intermediates, targets and seeds."""
    col = measure_column(measure)
    summ = _seed_summary(gains, ["language", "params"], col)
    fig = go.Figure()
    for j, lang in enumerate(sorted(summ["language"].unique())):
        s = summ[summ["language"] == lang].sort_values("params")
        fig.add_trace(go.Scatter(x=s["params"], y=s["mean"], mode="lines+markers", name=lang,
                                 line={"color": PALETTE[j % len(PALETTE)]}))
    fig.add_hline(y=0, line={"dash": "dot", "color": "grey"})
    fig.update_xaxes(type="log", title_text="parameters")
    fig.update_yaxes(title_text=_title(measure))
    fig.update_layout(title=f"{_title(measure)} per language vs model size (mean over tasks and seeds)", height=450)
    return fig


def forest(per: pd.DataFrame, pooled: SlopeFit | None = None, label: str = "target_task") -> go.Figure:
    """Per-target slopes with 95% CIs (sorted), and the pooled model's slope as a black diamond above them."""
    ok = per[np.isfinite(per["slope_per_doubling"])].sort_values("slope_per_doubling")
    names = [f"{r[label]} ({r['task_family']})" if "task_family" in per.columns else str(r[label])
             for _, r in ok.iterrows()]
    fig = go.Figure(go.Scatter(
        x=ok["slope_per_doubling"], y=names, mode="markers", marker={"size": 9, "color": PALETTE[0]},
        error_x={"type": "data", "symmetric": False, "array": ok["ci_high"] - ok["slope_per_doubling"],
                 "arrayminus": ok["slope_per_doubling"] - ok["ci_low"]}, name="per target"))
    unit = MEASURES[ok["measure"].iloc[0]][1] if "measure" in ok.columns and len(ok) else ""
    if pooled is not None:
        fig.add_trace(go.Scatter(
            x=[pooled.estimate], y=["pooled (all targets)"], mode="markers",
            marker={"symbol": "diamond", "size": 14, "color": "black"}, name="pooled",
            error_x={"type": "data", "symmetric": False, "array": [pooled.ci_high - pooled.estimate],
                     "arrayminus": [pooled.estimate - pooled.ci_low]}))
        unit = pooled.unit
    fig.add_vline(x=0, line={"dash": "dot", "color": "grey"})
    fig.update_layout(title="Slope of the gain per doubling of parameters, per target (95% CI)",
                      xaxis_title=f"{unit} per doubling", height=max(350, 45 * (len(ok) + 2)))
    return fig


def baseline_curve(baseline: pd.DataFrame) -> go.Figure:
    """Baseline (no intermediate task) score against parameters per target: what scale alone buys."""
    summ = _seed_summary(baseline, ["target_task", "params"], "value")
    fig = go.Figure()
    for j, target in enumerate(sorted(summ["target_task"].unique())):
        s = summ[summ["target_task"] == target].sort_values("params")
        fig.add_trace(go.Scatter(x=s["params"], y=s["mean"], mode="lines+markers", name=target,
                                 line={"color": PALETTE[j % len(PALETTE)]},
                                 error_y={"type": "data", "array": s["std"], "visible": True}))
    fig.update_xaxes(type="log", title_text="parameters")
    fig.update_yaxes(title_text="baseline score (primary metric, 0-100)")
    fig.update_layout(title="Baseline score vs model size, non-English mean (bars: ±1 SD over seeds)", height=450)
    return fig
