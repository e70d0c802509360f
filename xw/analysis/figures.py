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


def _two_lines(title: str, detail: str) -> dict:
    """A figure title with a smaller second line (plotly titles do not wrap)."""
    return {"text": f"{title}<br><sup>{detail}</sup>", "x": 0.0, "xanchor": "left"}


def _seed_summary(df: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Mean over languages within each seed, then mean and SD over seeds."""
    per_seed = df.groupby([*by, "seed"], as_index=False)[value].mean()
    out = per_seed.groupby(by, as_index=False)[value].agg(["mean", "std", "count"])
    return out.fillna({"std": 0.0})


def _grid(n: int, cols: int = 3) -> tuple[int, int]:
    """Rows and columns for ``n`` panels; 4 panels make a 2 x 2 grid rather than 3 + 1."""
    cols = 2 if n == 4 and cols > 2 else min(cols, n)
    return math.ceil(n / cols), cols


def _ladder_axis(fig: go.Figure, params, **where) -> None:
    """Log x axis ticked at the ladder's sizes (270M, 3.5B), not at plotly's 2-5-10 minor ticks."""
    ticks = sorted({float(p) for p in params})
    fig.update_xaxes(type="log", tickvals=ticks, ticktext=[format_params(p) for p in ticks], **where)


def _dodge(j: int, n: int, width: float = 0.08) -> float:
    """Multiplicative x offset for line ``j`` of ``n`` on a log axis, so error bars do not hide each other."""
    return 2.0 ** (width * (j - (n - 1) / 2)) if n > 1 else 1.0


def gain_vs_params(gains: pd.DataFrame, measure: str = "absolute") -> go.Figure:
    """Gain against parameters (log x), one panel per target, one line per intermediate task."""
    col = measure_column(measure)
    summ = _seed_summary(gains, ["target_task", "intermediate_task", "params"], col)
    families = gains.groupby("target_task")["task_family"].first().to_dict()
    targets = sorted(summ["target_task"].unique())
    inters = sorted(summ["intermediate_task"].unique())
    rows, cols = _grid(len(targets))
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=[f"{t} ({families.get(t, '')})" for t in targets],
                        vertical_spacing=0.3 / rows, horizontal_spacing=0.07)
    for k, target in enumerate(targets):
        r, c = divmod(k, cols)
        for j, inter in enumerate(inters):
            s = summ[(summ["target_task"] == target) & (summ["intermediate_task"] == inter)].sort_values("params")
            fig.add_trace(go.Scatter(
                x=s["params"] * _dodge(j, len(inters)), y=s["mean"], mode="lines+markers", name=inter,
                legendgroup=inter, showlegend=k == 0, line={"color": PALETTE[j % len(PALETTE)]},
                customdata=np.column_stack([[format_params(p) for p in s["params"]], s["std"], s["count"]]),
                hovertemplate=(f"{target} after {inter}<br>%{{customdata[0]}} parameters<br>gain %{{y:.2f}} "
                               f"± %{{customdata[1]:.2f}} (SD over %{{customdata[2]}} seeds)<extra></extra>"),
                error_y={"type": "data", "array": s["std"], "visible": True}),
                row=r + 1, col=c + 1)
        fig.add_hline(y=0, line={"dash": "dot", "color": "grey"}, row=r + 1, col=c + 1)
    _ladder_axis(fig, summ["params"])
    for k in range(len(targets)):  # axis titles once per column (bottom panel) and row (left panel)
        r, c = divmod(k, cols)
        if k + cols >= len(targets):
            fig.update_xaxes(title_text="parameters (log scale)", row=r + 1, col=c + 1)
        if c == 0:
            fig.update_yaxes(title_text=MEASURES[measure][1], row=r + 1, col=1)
    fig.update_layout(title=_two_lines(f"{_title(measure)} vs model size, per target",
                                       "one line per intermediate task; mean over languages, bars ±1 SD over seeds"),
                      height=120 + 290 * rows, legend_title="intermediate task", hovermode="closest")
    return fig


def heatmap(gains: pd.DataFrame, measure: str = "absolute") -> go.Figure:
    """Mean gain for each intermediate x target, one panel per scale on a shared colour scale."""
    col = measure_column(measure)
    means = gains.groupby(["params", "scale", "intermediate_task", "target_task"], as_index=False)[col].mean()
    scales = means[["params", "scale"]].drop_duplicates().sort_values("params")
    lim = float(np.nanmax(np.abs(means[col]))) if len(means) else 1.0
    targets = sorted(means["target_task"].unique())
    inters = sorted(means["intermediate_task"].unique())
    rows, cols = _grid(len(scales), cols=2)
    fig = make_subplots(rows=rows, cols=cols, vertical_spacing=0.35 / rows, horizontal_spacing=0.08,
                        subplot_titles=[f"{s} ({format_params(p)} parameters)"
                                        for p, s in scales.itertuples(index=False)])
    for k, (params, _) in enumerate(scales.itertuples(index=False)):
        m = (means[means["params"] == params].pivot(index="intermediate_task", columns="target_task", values=col)
             .reindex(index=inters, columns=targets))
        fig.add_trace(go.Heatmap(z=m.to_numpy(), x=targets, y=inters, zmin=-lim, zmax=lim, zmid=0,
                                 colorscale="RdBu", showscale=k == 0,
                                 colorbar={"title": {"text": MEASURES[measure][1], "side": "right"}},
                                 texttemplate="%{z:.1f}", xgap=1, ygap=1,
                                 hovertemplate="%{y} -> %{x}: %{z:.2f}<extra></extra>"),
                      row=k // cols + 1, col=k % cols + 1)
    fig.update_xaxes(tickangle=-40)
    fig.update_layout(title=_two_lines(f"{_title(measure)}: intermediate task x target, per model size",
                                       "mean over languages and seeds; blue: intermediate training helps, red: it hurts"),
                      height=120 + 330 * rows)
    return fig


def language_gain(gains: pd.DataFrame, measure: str = "absolute") -> go.Figure:
    """Per-language gain against parameters, averaged over intermediates, targets and seeds."""
    col = measure_column(measure)
    summ = _seed_summary(gains, ["language", "params"], col)
    fig = go.Figure()
    for j, lang in enumerate(sorted(summ["language"].unique())):
        s = summ[summ["language"] == lang].sort_values("params")
        fig.add_trace(go.Scatter(x=s["params"], y=s["mean"], mode="lines+markers", name=lang,
                                 line={"color": PALETTE[j % len(PALETTE)]},
                                 hovertemplate=f"{lang}: %{{y:.2f}}<extra></extra>"))
    fig.add_hline(y=0, line={"dash": "dot", "color": "grey"})
    _ladder_axis(fig, summ["params"], title_text="parameters (log scale)")
    fig.update_yaxes(title_text=_title(measure))
    fig.update_layout(title=_two_lines(f"{_title(measure)} per language vs model size",
                                       "mean over intermediate tasks, targets and seeds"), height=450,
                      legend_title="language", hovermode="x unified")
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
    measure = ok["measure"].iloc[0] if "measure" in ok.columns and len(ok) else getattr(pooled, "measure", None)
    what = MEASURE_LABELS.get(measure, "gain")
    fig.update_layout(title=_two_lines(f"Slope of the {what} per doubling of parameters, per target (95% CI)",
                                       "right of 0: the benefit grows with scale; left: it shrinks"),
                      xaxis_title=f"{unit} per doubling of parameters", height=max(350, 45 * (len(ok) + 2)),
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0})
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
    _ladder_axis(fig, summ["params"], title_text="parameters (log scale)")
    fig.update_yaxes(title_text="baseline score (primary metric, 0-100)")
    fig.update_layout(title=_two_lines("Baseline score (no intermediate task) vs model size: what scale alone buys",
                                       "mean over non-English languages, bars ±1 SD over seeds"), height=450, legend_title="target")
    return fig
